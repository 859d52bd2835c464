/**
 * A download landed through a part file: `.<name>.ferry-part` beside its
 * destination, continued when an earlier attempt left one, written with direct I/O
 * when large, and renamed into place only once the SHA-256 matched.
 */

import { createHash } from 'node:crypto';
import { link, mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BatchedFileWriter } from '../io/batched-writer.js';
import { DIRECT_MIN_BYTES, DirectFileWriter, openDirect } from '../io/direct-file-writer.js';
import { exists } from '../io/exists.js';
import { fsyncDir } from '../io/fsync-dir.js';
import { FerryError, ferryError, systemErrorCode } from '../protocol/errors.js';
import type { FerryClient } from './client.js';
import { localError, type FileJob, type FileOutcome } from './transfer-plan.js';

export const PART_SUFFIX = '.ferry-part';

/** The part file of local file `local`, beside it. */
export function partPathOf(local: string): string {
  return join(dirname(local), `.${basename(local)}${PART_SUFFIX}`);
}

export function keptError(local: string): FerryError {
  return ferryError('EXISTS', `${local} already exists here and was kept (--no-clobber); remove it, or download without --no-clobber to replace it`);
}

/**
 * Puts a verified part file in place. By default it replaces a local file of the
 * same name atomically (as scp does) and says so; with no-clobber a hard link
 * claims the name only if it is still free, so a file that appeared meanwhile is
 * never overwritten.
 */
export async function landPart(part: string, local: string, noClobber: boolean): Promise<{ replaced: boolean }> {
  if (!noClobber) {
    const replaced = await exists(local);
    await rename(part, local);
    return { replaced };
  }
  try {
    await link(part, local).catch(async (error: unknown) => {
      if (!NO_HARD_LINKS.has(systemErrorCode(error) ?? '')) throw error;
      // A file system without hard links (FAT, some network shares): claim the
      // name with an exclusive create, then move the verified file over the claim.
      await (await open(local, 'wx')).close();
      await rename(part, local);
    });
  } catch (error) {
    if (systemErrorCode(error) === 'EEXIST') throw keptError(local);
    throw error;
  } finally {
    await unlink(part).catch(() => undefined);
  }
  return { replaced: false };
}

const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/** A part file open for writing; `fresh` when it was just created, so it holds nothing to continue from. */
interface OpenPart {
  path: string;
  handle: FileHandle;
  fresh: boolean;
}

/**
 * Opens the part file of `local`. Most downloads start one afresh, so the first try
 * creates it exclusively (no size to look up); one left by an earlier attempt is
 * opened to continue it. Its folder is created only when it turns out to be missing
 * (the plan made the folders already), which saves a call per file.
 */
async function openPart(part: string, local: string): Promise<OpenPart> {
  try {
    return { path: part, handle: await open(part, 'wx'), fresh: true };
  } catch (error) {
    try {
      const code = systemErrorCode(error);
      if (code === 'ENOENT') {
        await mkdir(dirname(local), { recursive: true });
        return { path: part, handle: await open(part, 'wx'), fresh: true };
      }
      if (code === 'EEXIST') return { path: part, handle: await open(part, 'a+'), fresh: false };
      throw error;
    } catch (failure) {
      throw localError(failure, local, 'write');
    }
  }
}

/** Receives a file into its open part file, continuing from the bytes already there (and syncs it when asked). */
async function receive(client: FerryClient, job: FileJob, part: OpenPart, fsync: boolean, progress: (done: number) => void): Promise<FileOutcome> {
  const { handle } = part;
  let offset = part.fresh ? 0 : (await handle.stat()).size;
  if (offset > job.size) {
    await handle.truncate(0);
    offset = 0;
  }
  const prefix = createHash('sha256');
  if (offset > 0) {
    for await (const chunk of handle.createReadStream({ start: 0, end: offset - 1, autoClose: false })) prefix.update(chunk as Buffer);
  }
  // A large file received afresh bypasses the page cache (see io/direct-file-writer.ts).
  const direct = offset === 0 && job.size >= DIRECT_MIN_BYTES ? await openDirect(part.path) : undefined;
  let result;
  try {
    const writer = direct ? new DirectFileWriter(direct, handle) : new BatchedFileWriter(handle);
    try {
      result = await client.download(job.remote, writer, { offset, prefixDigest: prefix, onProgress: progress });
    } catch (error) {
      // What arrived before a lost connection is kept for the next attempt to continue
      // from (it is verified then, with the rest): write out what still waits in memory.
      if (error instanceof FerryError && error.code === 'CONNECTION_LOST') await writer.flush().catch(() => undefined);
      throw error;
    }
    await writer.flush();
  } finally {
    await direct?.close();
  }
  // The file keeps the server's time, set before it takes its name so it never shows another.
  if (result.mtime > 0) await handle.utimes(new Date(), new Date(result.mtime));
  if (fsync) await handle.sync();
  const outcome: FileOutcome = { local: job.local, remote: job.remote, size: result.size, sha256: result.sha256 };
  if (offset > 0) outcome.resumedFrom = offset;
  return outcome;
}

/**
 * Downloads one file into `<name>.ferry-part` beside its destination, continuing a
 * part left by an earlier attempt, and puts it in place once verified.
 */
export async function downloadOne(client: FerryClient, job: FileJob, options: { noClobber: boolean; fsync: boolean }, progress: (done: number) => void): Promise<FileOutcome> {
  const { noClobber, fsync } = options;
  if (noClobber && (await exists(job.local))) throw keptError(job.local);
  const part = partPathOf(job.local);
  const opened = await openPart(part, job.local);
  let outcome: FileOutcome;
  let ending: 'verified' | 'resumable' | 'useless' = 'useless';
  try {
    outcome = await receive(client, job, opened, fsync, progress);
    ending = 'verified';
  } catch (error) {
    // A part cut off by a lost connection is kept for the next attempt to resume.
    if (error instanceof FerryError && error.code === 'CONNECTION_LOST') ending = 'resumable';
    throw error;
  } finally {
    await opened.handle.close();
    if (ending === 'useless') await unlink(part).catch(() => undefined);
  }
  const { replaced } = await landPart(part, job.local, noClobber)
    .then(async (landed) => {
      if (fsync) await fsyncDir(dirname(job.local));
      return landed;
    })
    .catch((error: unknown) => {
      throw localError(error, job.local, 'write');
    });
  if (replaced) outcome.replaced = true;
  return outcome;
}
