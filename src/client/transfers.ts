/**
 * Moving local files and folders: maps local paths (the platform's own separators)
 * to remote paths (always `/`), walks folders, pipelines the files over one
 * connection, and lands downloads under a temporary name that is renamed into
 * place only once the SHA-256 matched.
 */

import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, futimesSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { link, mkdir, open, rename, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { BatchedFileWriter } from '../io/batched-writer.js';
import { DirectFileWriter, openDirect } from '../io/direct-file-writer.js';
import { FerryError, ferryError, systemErrorCode } from '../protocol/errors.js';
import { joinRemote, remoteBaseName } from '../protocol/paths.js';
import type { DownloadSink, FerryClient } from './client.js';
import { localNameProblem } from './local-names.js';
import { localPathInside } from './received-names.js';
import { inWindow, walkLocalTree, type WalkOptions } from './local-tree.js';
import { localHolds, remoteHolds } from './same-content.js';
import { exists } from '../io/exists.js';
import { fsyncDir } from '../io/fsync-dir.js';

/** Requests kept in flight on one connection; bounds memory for huge batches. */
const PIPELINE_WINDOW = 64;
/** Files from this size on are sent resumably (one extra round trip buys not re-sending them). */
export const RESUMABLE_MIN_BYTES = 4 * 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;
/** Downloads up to this size are held in memory until verified, then written at once (64 in flight: 8 MiB at most). */
const SMALL_DOWNLOAD_MAX_BYTES = 128 * 1024;
/** Downloads from this size on are written with direct I/O (smaller ones are not worth two extra buffers). */
const DIRECT_MIN_BYTES = 8 * 1024 * 1024;
export const PART_SUFFIX = '.ferry-part';

export interface FileJob {
  local: string;
  remote: string;
  size: number;
  /** The source's modification time (ms since the epoch), kept by the copy. */
  mtime?: number;
}

/** A folder's time, set once everything inside it is in place (writing into a folder changes its time). */
export interface FolderTime {
  path: string;
  mtime: number;
}

export interface TransferPlan {
  files: FileJob[];
  /** Folders to create (remote for uploads, local for downloads), parents first. */
  folders: string[];
  /** Files that cannot be transferred, found while planning. */
  refused: FileOutcome[];
  /** Times for the folders (remote for uploads, local for downloads), parents first. */
  folderTimes?: FolderTime[];
  /** What planning passed over and why (symbolic links), for the user to read. */
  notices?: string[];
}

export interface FileOutcome {
  local: string;
  remote: string;
  size: number;
  sha256?: string;
  /** Bytes already in place when the transfer continued an interrupted one. */
  resumedFrom?: number;
  /** A download that replaced a local file of the same name. */
  replaced?: boolean;
  /** Not sent: the other end already held the same bytes (--skip-existing). */
  skipped?: boolean;
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

/**
 * A local failure as a FerryError that names the file and the way out. A read
 * failure the client library already wrapped is looked at again for its cause.
 */
function localError(error: unknown, path: string, doing: 'read' | 'write' = 'read'): FerryError {
  if (error instanceof FerryError && (error.code !== 'LOCAL_IO' || systemErrorCode(error.cause) === undefined)) return error;
  const cause = error instanceof FerryError ? error.cause : error;
  const code = systemErrorCode(cause);
  if (code === 'ENOENT' && doing === 'read') return ferryError('NOT_FOUND', `${path} does not exist on this computer`, cause);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    const why = code === 'EROFS' ? 'is on a read-only file system' : 'is not writable (permission denied)';
    if (doing === 'write') {
      return ferryError('PERMISSION_DENIED', `cannot write ${path}: its folder ${dirname(path)} ${why}; download into another folder with -d DIR, or make it writable`, cause);
    }
    return ferryError('PERMISSION_DENIED', `cannot read ${path} (permission denied); check its permissions, or leave it out`, cause);
  }
  return ferryError('LOCAL_IO', `${path}: ${(cause as Error).message}`, cause);
}

/** The files and folders of local folder `root`, sent to `remoteRoot`. */
async function walkLocal(root: string, remoteRoot: string, plan: TransferPlan, options: WalkOptions): Promise<void> {
  const tree = await walkLocalTree(root, options);
  for (const entry of tree.entries) {
    const remote = entry.relative === '' ? remoteRoot : joinRemote(remoteRoot, entry.relative);
    if (entry.type === 'dir') {
      plan.folders.push(remote);
      (plan.folderTimes ??= []).push({ path: remote, mtime: entry.mtime });
    } else plan.files.push({ local: entry.local, remote, size: entry.size, mtime: entry.mtime });
  }
  for (const failure of tree.failures) plan.refused.push({ local: failure.local, remote: joinRemote(remoteRoot, failure.relative), size: 0, error: failure.error });
  if (tree.notices.length > 0) (plan.notices ??= []).push(...tree.notices);
}

/**
 * What `ferry upload a b folder -d dest` sends, and where each file lands; with
 * `as`, the one local file or folder lands under that remote name instead.
 */
export async function planUpload(locals: readonly string[], destDir: string, options: { as?: string } & WalkOptions = {}): Promise<TransferPlan> {
  const plan: TransferPlan = { files: [], folders: [], refused: [] };
  for (const local of locals) {
    const remote = options.as ?? joinRemote(destDir, basename(local));
    try {
      const stats = await stat(local);
      if (stats.isDirectory()) await walkLocal(local, remote, plan, options);
      else plan.files.push({ local, remote, size: stats.size, mtime: stats.mtimeMs });
    } catch (error) {
      plan.refused.push({ local, remote, size: 0, error: localError(error, local) });
    }
  }
  return plan;
}

export interface UploadPlanOptions {
  noClobber?: boolean;
  /** Leave out files the server already holds with the same size and SHA-256. */
  skipExisting?: boolean;
  reporter?: TransferReporter;
}

/**
 * Reads a small file whole (up to one byte past `size`, to see it grew) with direct
 * system calls. The client reads one small file after another for the user who
 * asked, nothing waits behind it but its own transfer: three calls that take
 * microseconds each cost less here than three round trips through the thread pool,
 * which made up most of the client's time per small file.
 */
function readSmallFile(path: string, size: number): Buffer {
  const buffer = Buffer.allocUnsafe(size + 1);
  const fd = openSync(path, 'r');
  try {
    let filled = 0;
    for (;;) {
      const got = readSync(fd, buffer, filled, buffer.length - filled, null);
      if (got === 0) break;
      filled += got;
      if (filled === buffer.length) break;
    }
    return buffer.subarray(0, filled);
  } finally {
    closeSync(fd);
  }
}

export async function uploadPlan(client: FerryClient, plan: TransferPlan, options: UploadPlanOptions = {}): Promise<FileOutcome[]> {
  const reporter = options.reporter ?? SILENT_REPORTER;
  // Folders first (empty ones included); files create their own parents anyway.
  await Promise.all(plan.folders.map((folder) => client.mkdir(folder)));
  const outcomes = await inWindow(plan.files, PIPELINE_WINDOW, async (job) => {
    const bar = reporter.file(job);
    const outcome: FileOutcome = { local: job.local, remote: job.remote, size: job.size };
    try {
      if (options.skipExisting && (await remoteHolds(client, job.remote, job.local, job.size))) {
        outcome.skipped = true;
        bar.finish(outcome);
        return outcome;
      }
      const result = await client.upload(
        job.remote,
        {
          size: job.size,
          open: (start = 0, end = job.size) =>
            start >= end ? Readable.from([]) : createReadStream(job.local, { start, end: end - 1, highWaterMark: READ_CHUNK_BYTES }),
          readAll: () => readSmallFile(job.local, job.size),
        },
        {
          noClobber: options.noClobber ?? false,
          resumable: job.size >= RESUMABLE_MIN_BYTES,
          ...(job.mtime !== undefined ? { mtime: job.mtime } : {}),
          onProgress: (done) => bar.progress(done),
        },
      );
      outcome.sha256 = result.sha256;
      if (result.offset > 0) outcome.resumedFrom = result.offset;
    } catch (error) {
      outcome.error = localError(error, job.local);
    }
    bar.finish(outcome);
    return outcome;
  });
  // Folder times last, once nothing more is written into them.
  if (client.supports('mtime')) {
    // Pipelined: setting one folder's time leaves its parent's alone.
    await Promise.all((plan.folderTimes ?? []).map((folder) => client.touch(folder.path, folder.mtime).catch(() => undefined)));
  }
  return [...plan.refused, ...outcomes];
}

/**
 * What `ferry download a folder -d dest` fetches, and where each file lands
 * locally; with `as`, the one remote file or folder lands under that local name.
 * Every name from the server was checked by the client library; each local path is
 * checked once more to lie inside the destination, all before anything is written.
 */
export async function planDownload(
  client: FerryClient,
  remotes: readonly string[],
  destDir: string,
  options: { as?: string } = {},
): Promise<TransferPlan> {
  const plan: TransferPlan = { files: [], folders: [], refused: [] };
  const into = options.as !== undefined ? dirname(options.as) : destDir;
  const add = (remote: string, relativeSegments: string[], size: number, mtime: number): void => {
    const problem = relativeSegments.map((segment) => localNameProblem(segment)).find((p) => p !== undefined);
    const local = localPathInside(into, relativeSegments);
    if (problem) plan.refused.push({ local, remote, size, error: ferryError('BAD_PATH', `${remote} cannot be saved here: ${problem}`) });
    else plan.files.push({ local, remote, size, mtime });
  };
  // An object store keeps no folder times (0): such folders keep the time of their download.
  const folderTime = (path: string, mtime: number): void => {
    if (mtime > 0) (plan.folderTimes ??= []).push({ path, mtime });
  };
  for (const remote of remotes) {
    const name = options.as !== undefined ? basename(options.as) : remoteBaseName(remote);
    let entry;
    try {
      entry = await client.stat(remote, { forDownload: true });
    } catch (error) {
      // A hostile answer fails the whole command, before anything is written.
      if (error instanceof FerryError && error.code === 'UNSAFE_NAME') throw error;
      plan.refused.push({ local: join(into, name), remote, size: 0, error: localError(error, remote) });
      continue;
    }
    if (entry.type === 'file') {
      add(remote, [name], entry.size, entry.mtime);
      continue;
    }
    const top = name === '' ? [] : [name];
    const topFolder = top.length > 0 ? localPathInside(into, top) : into;
    plan.folders.push(topFolder);
    folderTime(topFolder, entry.mtime);
    for (const child of await client.list(remote, { recursive: true })) {
      const segments = child.name.split('/');
      const childRemote = joinRemote(remote, child.name);
      if (child.type === 'dir') {
        if (!segments.some((segment) => localNameProblem(segment))) {
          const folder = localPathInside(into, [...top, ...segments]);
          plan.folders.push(folder);
          folderTime(folder, child.mtime);
        }
      } else {
        add(childRemote, [...top, ...segments], child.size, child.mtime);
      }
    }
  }
  return plan;
}

export interface DownloadOptions {
  reporter?: TransferReporter;
  /** Keep a local file that already has the name, rather than replacing it. */
  noClobber?: boolean;
  /** Leave out files already here with the same size and SHA-256. */
  skipExisting?: boolean;
  /**
   * Sync each file, and its folder after the rename, to the disk before it is
   * reported, so a landed download survives a power loss too. Without it (as rsync,
   * scp and cp do) a file is verified and renamed into place, and the system writes
   * it out on its own schedule; see "Durability of downloads" in the README.
   */
  fsync?: boolean;
}

function keptError(local: string): FerryError {
  return ferryError('EXISTS', `${local} already exists here and was kept (--no-clobber); remove it, or download without --no-clobber to replace it`);
}

/**
 * Puts a verified part file in place. By default it replaces a local file of the
 * same name atomically (as scp does) and says so; with no-clobber a hard link
 * claims the name only if it is still free, so a file that appeared meanwhile is
 * never overwritten.
 */
async function landPart(part: string, local: string, noClobber: boolean): Promise<{ replaced: boolean }> {
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

/** Holds a small download in memory; one that outgrows the small size changed on the server since it was listed. */
class MemorySink implements DownloadSink {
  readonly chunks: Buffer[] = [];
  private bytes = 0;

  write(chunk: Buffer): Promise<void> {
    this.bytes += chunk.length;
    if (this.bytes > SMALL_DOWNLOAD_MAX_BYTES) return Promise.reject(new Error('the file grew on the server since it was listed; download it again'));
    this.chunks.push(chunk);
    return Promise.resolve();
  }
}

/**
 * Writes a verified small download to its part file, with the server's time, by
 * direct system calls: for a file of a few KiB they take microseconds, where each
 * round trip through the thread pool cost the client more than the call itself
 * (the same reasoning as readSmallFile). Its folder is made only if it is missing.
 */
function writeSmallPart(part: string, local: string, chunks: readonly Buffer[], mtime: number): void {
  let fd: number;
  try {
    fd = openSync(part, 'w');
  } catch (error) {
    if (systemErrorCode(error) !== 'ENOENT') throw error;
    mkdirSync(dirname(local), { recursive: true });
    fd = openSync(part, 'w');
  }
  try {
    const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
    // The file keeps the server's time, set before it takes its name so it never shows another.
    if (mtime > 0) futimesSync(fd, new Date(), new Date(mtime));
  } finally {
    closeSync(fd);
  }
}

/**
 * A small file that is not to be synced: received into memory, verified, then
 * written beside its destination and renamed into place. Nothing is written before
 * it is verified, so it leaves no part file behind (nor continues one: re-fetching
 * a few KiB is cheaper than looking one up).
 */
async function downloadSmall(client: FerryClient, job: FileJob, noClobber: boolean, progress: (done: number) => void): Promise<FileOutcome> {
  if (noClobber && (await exists(job.local))) throw keptError(job.local);
  const sink = new MemorySink();
  const result = await client.download(job.remote, sink, { onProgress: progress });
  const part = join(dirname(job.local), `.${basename(job.local)}${PART_SUFFIX}`);
  let replaced: boolean;
  try {
    writeSmallPart(part, job.local, sink.chunks, result.mtime);
    if (noClobber) replaced = (await landPart(part, job.local, true)).replaced;
    else {
      replaced = existsSync(job.local);
      renameSync(part, job.local);
    }
  } catch (error) {
    try {
      unlinkSync(part);
    } catch {
      // Never made, or already gone.
    }
    throw localError(error, job.local, 'write');
  }
  const outcome: FileOutcome = { local: job.local, remote: job.remote, size: result.size, sha256: result.sha256 };
  if (replaced) outcome.replaced = true;
  return outcome;
}

/**
 * Downloads one file into `<name>.ferry-part` beside its destination, continuing a
 * part left by an earlier attempt, and puts it in place once verified.
 */
async function downloadOne(client: FerryClient, job: FileJob, options: { noClobber: boolean; fsync: boolean }, progress: (done: number) => void): Promise<FileOutcome> {
  const { noClobber, fsync } = options;
  if (noClobber && (await exists(job.local))) throw keptError(job.local);
  const part = join(dirname(job.local), `.${basename(job.local)}${PART_SUFFIX}`);
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

export async function downloadPlan(client: FerryClient, plan: TransferPlan, options: DownloadOptions = {}): Promise<FileOutcome[]> {
  const reporter = options.reporter ?? SILENT_REPORTER;
  for (const folder of plan.folders) {
    await mkdir(folder, { recursive: true }).catch((error: unknown) => {
      throw localError(error, folder, 'write');
    });
  }
  const outcomes = await inWindow(plan.files, PIPELINE_WINDOW, async (job) => {
    const bar = reporter.file(job);
    let outcome: FileOutcome;
    try {
      if (options.skipExisting && (await localHolds(client, job.local, job.remote, job.size))) {
        outcome = { local: job.local, remote: job.remote, size: job.size, skipped: true };
        bar.finish(outcome);
        return outcome;
      }
      const noClobber = options.noClobber ?? false;
      const progress = (done: number): void => bar.progress(done);
      outcome =
        job.size <= SMALL_DOWNLOAD_MAX_BYTES && !options.fsync
          ? await downloadSmall(client, job, noClobber, progress)
          : await downloadOne(client, job, { noClobber, fsync: options.fsync ?? false }, progress);
    } catch (error) {
      outcome = { local: job.local, remote: job.remote, size: job.size, error: localError(error, job.local, 'write') };
    }
    bar.finish(outcome);
    return outcome;
  });
  // Folder times last, deepest first: each file landed in its folder changed the folder's time.
  for (const folder of [...(plan.folderTimes ?? [])].reverse()) await utimes(folder.path, new Date(), new Date(folder.mtime)).catch(() => undefined);
  return [...plan.refused, ...outcomes];
}

/** A local path shown relative to the working folder when that is shorter. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel.length < path.length ? rel : path;
}
