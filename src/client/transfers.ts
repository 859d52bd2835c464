/**
 * Moving local files and folders: maps local paths (the platform's own separators)
 * to remote paths (always `/`), walks folders, pipelines the files over one
 * connection, and lands downloads under a temporary name that is renamed into
 * place only once the SHA-256 matched.
 */

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, opendir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { BatchedFileWriter } from '../io/batched-writer.js';
import { FerryError, ferryError, systemErrorCode } from '../protocol/errors.js';
import { joinRemote, remoteBaseName } from '../protocol/paths.js';
import type { FerryClient } from './client.js';
import { localNameProblem } from './local-names.js';
import { localPathInside } from './received-names.js';

/** Requests kept in flight on one connection; bounds memory for huge batches. */
const PIPELINE_WINDOW = 64;
/** Files from this size on are sent resumably (one extra round trip buys not re-sending them). */
export const RESUMABLE_MIN_BYTES = 4 * 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;
/** Local stats in flight while walking a folder. */
const STAT_WINDOW = 32;
export const PART_SUFFIX = '.ferry-part';

export interface FileJob {
  local: string;
  remote: string;
  size: number;
}

export interface TransferPlan {
  files: FileJob[];
  /** Folders to create (remote for uploads, local for downloads), parents first. */
  folders: string[];
  /** Files that cannot be transferred, found while planning. */
  refused: FileOutcome[];
}

export interface FileOutcome {
  local: string;
  remote: string;
  size: number;
  sha256?: string;
  /** Bytes already in place when the transfer continued an interrupted one. */
  resumedFrom?: number;
  error?: FerryError;
}

/** Receives progress; the CLI draws bars with it, tests and --json ignore it. Whoever runs a plan calls start and stop. */
export interface TransferReporter {
  start(totalFiles: number, totalBytes: number): void;
  file(job: FileJob): { progress(bytesDone: number): void; finish(outcome: FileOutcome): void };
  stop(): void;
}

export const SILENT_REPORTER: TransferReporter = {
  start: () => undefined,
  file: () => ({ progress: () => undefined, finish: () => undefined }),
  stop: () => undefined,
};

function localError(error: unknown, path: string): FerryError {
  if (error instanceof FerryError) return error;
  if (systemErrorCode(error) === 'ENOENT') return ferryError('NOT_FOUND', `${path} does not exist on this computer`, error);
  if (systemErrorCode(error) === 'EACCES') return ferryError('PERMISSION_DENIED', `cannot access ${path} on this computer`, error);
  return ferryError('LOCAL_IO', `${path}: ${(error as Error).message}`, error);
}

/** Runs `work` over `items` with at most `window` in flight, keeping order of results. */
async function inWindow<T, R>(items: readonly T[], window: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, items.length) }, lane));
  return results;
}

async function walkLocal(root: string, remoteRoot: string, plan: TransferPlan): Promise<void> {
  plan.folders.push(remoteRoot);
  const dirents = [];
  for await (const dirent of await opendir(root)) dirents.push(dirent);
  // One folder's entries are looked at together (their stats overlap in the thread pool), then walked in order.
  const stats = await inWindow(dirents, STAT_WINDOW, (dirent) => stat(join(root, dirent.name)).catch(() => undefined));
  for (const [index, dirent] of dirents.entries()) {
    const local = join(root, dirent.name);
    const remote = joinRemote(remoteRoot, dirent.name);
    const found = stats[index];
    if (found?.isDirectory() && !dirent.isSymbolicLink()) await walkLocal(local, remote, plan);
    else if (found?.isFile()) plan.files.push({ local, remote, size: found.size });
  }
}

/** What `ferry upload a b folder -d dest` sends, and where each file lands. */
export async function planUpload(locals: readonly string[], destDir: string): Promise<TransferPlan> {
  const plan: TransferPlan = { files: [], folders: [], refused: [] };
  for (const local of locals) {
    const remote = joinRemote(destDir, basename(local));
    try {
      const stats = await stat(local);
      if (stats.isDirectory()) await walkLocal(local, remote, plan);
      else plan.files.push({ local, remote, size: stats.size });
    } catch (error) {
      plan.refused.push({ local, remote, size: 0, error: localError(error, local) });
    }
  }
  return plan;
}

export async function uploadPlan(
  client: FerryClient,
  plan: TransferPlan,
  options: { noClobber?: boolean; reporter?: TransferReporter } = {},
): Promise<FileOutcome[]> {
  const reporter = options.reporter ?? SILENT_REPORTER;
  // Folders first (empty ones included); files create their own parents anyway.
  await Promise.all(plan.folders.map((folder) => client.mkdir(folder)));
  const outcomes = await inWindow(plan.files, PIPELINE_WINDOW, async (job) => {
    const bar = reporter.file(job);
    const outcome: FileOutcome = { local: job.local, remote: job.remote, size: job.size };
    try {
      const result = await client.upload(
        job.remote,
        {
          size: job.size,
          open: (start = 0, end = job.size) =>
            start >= end ? Readable.from([]) : createReadStream(job.local, { start, end: end - 1, highWaterMark: READ_CHUNK_BYTES }),
        },
        { noClobber: options.noClobber ?? false, resumable: job.size >= RESUMABLE_MIN_BYTES, onProgress: (done) => bar.progress(done) },
      );
      outcome.sha256 = result.sha256;
      if (result.offset > 0) outcome.resumedFrom = result.offset;
    } catch (error) {
      outcome.error = localError(error, job.local);
    }
    bar.finish(outcome);
    return outcome;
  });
  return [...plan.refused, ...outcomes];
}

/**
 * What `ferry download a folder -d dest` fetches, and where each file lands locally.
 * Every name from the server was checked by the client library; each local path is
 * checked once more to lie inside `destDir`, all before anything is written.
 */
export async function planDownload(client: FerryClient, remotes: readonly string[], destDir: string): Promise<TransferPlan> {
  const plan: TransferPlan = { files: [], folders: [], refused: [] };
  const add = (remote: string, relativeSegments: string[], size: number): void => {
    const problem = relativeSegments.map((segment) => localNameProblem(segment)).find((p) => p !== undefined);
    const local = localPathInside(destDir, relativeSegments);
    if (problem) plan.refused.push({ local, remote, size, error: ferryError('BAD_PATH', `${remote} cannot be saved here: ${problem}`) });
    else plan.files.push({ local, remote, size });
  };
  for (const remote of remotes) {
    const name = remoteBaseName(remote);
    let entry;
    try {
      entry = await client.stat(remote);
    } catch (error) {
      // A hostile answer fails the whole command, before anything is written.
      if (error instanceof FerryError && error.code === 'UNSAFE_NAME') throw error;
      plan.refused.push({ local: join(destDir, name), remote, size: 0, error: localError(error, remote) });
      continue;
    }
    if (entry.type === 'file') {
      add(remote, [name], entry.size);
      continue;
    }
    const top = name === '' ? [] : [name];
    if (top.length > 0) plan.folders.push(localPathInside(destDir, top));
    else plan.folders.push(destDir);
    for (const child of await client.list(remote, { recursive: true })) {
      const segments = child.name.split('/');
      const childRemote = joinRemote(remote, child.name);
      if (child.type === 'dir') {
        if (!segments.some((segment) => localNameProblem(segment))) plan.folders.push(localPathInside(destDir, [...top, ...segments]));
      } else {
        add(childRemote, [...top, ...segments], child.size);
      }
    }
  }
  return plan;
}

/**
 * Downloads one file into `<name>.ferry-part` beside its destination, continuing a
 * part left by an earlier attempt, and renames it into place once verified.
 */
async function downloadOne(client: FerryClient, job: FileJob, progress: (done: number) => void): Promise<FileOutcome> {
  const part = join(dirname(job.local), `.${basename(job.local)}${PART_SUFFIX}`);
  await mkdir(dirname(job.local), { recursive: true });
  const handle = await open(part, 'a+');
  let ending: 'verified' | 'resumable' | 'useless' = 'useless';
  try {
    let offset = (await handle.stat()).size;
    if (offset > job.size) {
      await handle.truncate(0);
      offset = 0;
    }
    const prefix = createHash('sha256');
    if (offset > 0) {
      for await (const chunk of handle.createReadStream({ start: 0, end: offset - 1, autoClose: false })) prefix.update(chunk as Buffer);
    }
    const writer = new BatchedFileWriter(handle);
    const result = await client.download(job.remote, writer, { offset, prefixDigest: prefix, onProgress: progress });
    await writer.flush();
    await handle.sync();
    ending = 'verified';
    const outcome: FileOutcome = { local: job.local, remote: job.remote, size: result.size, sha256: result.sha256 };
    if (offset > 0) outcome.resumedFrom = offset;
    return outcome;
  } catch (error) {
    // A part cut off by a lost connection is kept for the next attempt to resume.
    if (error instanceof FerryError && error.code === 'CONNECTION_LOST') ending = 'resumable';
    throw error;
  } finally {
    await handle.close();
    if (ending === 'verified') await rename(part, job.local);
    else if (ending === 'useless') await unlink(part).catch(() => undefined);
  }
}

export async function downloadPlan(
  client: FerryClient,
  plan: TransferPlan,
  options: { reporter?: TransferReporter } = {},
): Promise<FileOutcome[]> {
  const reporter = options.reporter ?? SILENT_REPORTER;
  for (const folder of plan.folders) await mkdir(folder, { recursive: true });
  const outcomes = await inWindow(plan.files, PIPELINE_WINDOW, async (job) => {
    const bar = reporter.file(job);
    let outcome: FileOutcome;
    try {
      outcome = await downloadOne(client, job, (done) => bar.progress(done));
    } catch (error) {
      outcome = { local: job.local, remote: job.remote, size: job.size, error: localError(error, job.local) };
    }
    bar.finish(outcome);
    return outcome;
  });
  return [...plan.refused, ...outcomes];
}

/** A local path shown relative to the working folder when that is shorter. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel.length < path.length ? rel : path;
}
