/**
 * Local-disk storage. Files live under `<dataDir>/files`; uploads in flight live
 * under `<dataDir>/tmp` (same file system, outside every user's tree) until they
 * are fsynced and renamed into place. Every path goes through the jail
 * (./jail.ts), which checks open descriptors rather than path strings, so neither
 * a symlink nor a tree changed underneath can lead a request outside the home.
 */

import { createHash, randomUUID, type Hash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { link, lstat, mkdir, open, opendir, readdir, realpath, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BatchedFileWriter } from '../io/batched-writer.js';
import { ferryError, systemErrorCode, FerryError } from '../protocol/errors.js';
import type { Entry, ResumeStatus } from '../protocol/messages.js';
import { formatRemotePath, MAX_PATH_BYTES } from '../protocol/paths.js';
import { canVerifyDescriptors, isInside, Jail, type Folder, type Opened, type Place, type SymlinkPolicy } from './jail.js';
import { PartialUploads } from './partials.js';
import type { HomeStorage, ReadableFile, RemotePath, Storage, UploadOptions, UploadTarget } from './storage.js';
import { MAX_TREE_DEPTH, NO_EXTENT, stoppedTooDeep } from './tree-limits.js';

/** Reads and writes move this many bytes per system call. */
const IO_CHUNK_BYTES = 1024 * 1024;
const DIGEST_CACHE_ENTRIES = 10_000;

export interface LocalStorageOptions {
  dataDir: string;
  /**
   * Files no home may reach, whatever the configuration (the users file, the TLS
   * key and certificate); the folders of uploads in flight are always protected.
   */
  protectedPaths?: readonly string[];
  /** Follow symlinks in homes that lead inside the home (`inside`, the default) or refuse them all. */
  symlinks?: SymlinkPolicy;
}

/** The real path `path` has or would have once created (its folder resolved), for comparisons. */
async function realPathOf(path: string): Promise<string> {
  return realpath(path).catch(async () => join(await realpath(dirname(path)).catch(() => dirname(path)), basename(path)));
}

/** Maps a failed fs call to the error the user should see. */
function storageError(error: unknown, path: RemotePath): FerryError {
  if (error instanceof FerryError) return error;
  const where = formatRemotePath(path);
  switch (systemErrorCode(error)) {
    case 'ENOENT':
      return ferryError('NOT_FOUND', `${where} does not exist`, error);
    case 'EEXIST':
      return ferryError('EXISTS', `${where} already exists`, error);
    case 'ENOTDIR':
      return ferryError('NOT_A_DIRECTORY', `a part of ${where} is a file, not a folder`, error);
    case 'EISDIR':
      return ferryError('IS_A_DIRECTORY', `${where} is a folder`, error);
    case 'ENOTEMPTY':
      return ferryError('NOT_EMPTY', `${where} is not empty; remove it recursively`, error);
    case 'ENOSPC':
    case 'EDQUOT':
      return ferryError('NO_SPACE', 'the server ran out of disk space; free some space on the server and try again', error);
    case 'ENAMETOOLONG':
      return ferryError('BAD_PATH', `${where} is too long for the server's file system`, error);
    case 'ELOOP':
      return ferryError('BAD_PATH', `${where} goes through a loop of links`, error);
    case 'EACCES':
    case 'EPERM':
      return ferryError('PERMISSION_DENIED', `the server's file system refuses access to ${where}`, error);
    default:
      // The fs message names server paths: it goes to the log (as the cause), not to the client.
      return ferryError('INTERNAL', `storage failed on ${where}; the server log has the details`, error);
  }
}

/**
 * Bytes held under each home that has a quota, computed by a walk the first time
 * and then kept current: a committed upload adds its size to every home it lies
 * in; a delete or rename (rarer, and harder to account) makes the next check walk.
 */
class UsageBook {
  private readonly bytes = new Map<string, number>();

  async of(root: string): Promise<number> {
    const known = this.bytes.get(root);
    if (known !== undefined) return known;
    const total = await treeBytes(root);
    this.bytes.set(root, total);
    return total;
  }

  added(file: string, delta: number): void {
    for (const [root, total] of this.bytes) if (isInside(root, file)) this.bytes.set(root, total + delta);
  }

  forget(): void {
    this.bytes.clear();
  }
}

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for await (const dirent of await opendir(dir)) {
    const path = join(dir, dirent.name);
    if (dirent.isDirectory()) total += await treeBytes(path);
    else if (dirent.isFile()) total += (await lstat(path).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

/** Remembers SHA-256 digests of files by identity, so `stat` does not re-read. */
class DigestCache {
  private readonly digests = new Map<string, string>();

  static key(stats: Stats): string {
    return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
  }

  get(stats: Stats): string | undefined {
    return this.digests.get(DigestCache.key(stats));
  }

  set(stats: Stats, digest: string): void {
    if (this.digests.size >= DIGEST_CACHE_ENTRIES) {
      const oldest = this.digests.keys().next().value;
      if (oldest !== undefined) this.digests.delete(oldest);
    }
    this.digests.set(DigestCache.key(stats), digest);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Group commit of folder fsyncs. A commit must not be reported before an fsync of
 * its folder that began after its rename; commits that arrive while such an fsync
 * has not begun yet share it, so a burst of small files in one folder costs a few
 * folder fsyncs instead of one each, with the same guarantee for every file.
 */
export class FolderSyncs {
  constructor(private readonly fsync: (dir: string) => Promise<void> = fsyncDir) {}

  /** Per folder: the fsync that has not begun yet (it covers every rename before it begins). */
  private readonly queued = new Map<string, Promise<void>>();
  /** Per folder: the fsync in progress. */
  private readonly running = new Map<string, Promise<void>>();

  /** Resolves after an fsync of `dir` that began after this call. */
  sync(dir: string): Promise<void> {
    const waiting = this.queued.get(dir);
    if (waiting) return waiting;
    const before = this.running.get(dir) ?? Promise.resolve();
    const mine: Promise<void> = before
      .catch(() => undefined)
      .then(() => {
        this.queued.delete(dir); // From here on, newcomers need the fsync after this one.
        this.running.set(dir, mine);
        return this.fsync(dir);
      })
      .finally(() => {
        if (this.running.get(dir) === mine) this.running.delete(dir);
      });
    this.queued.set(dir, mine);
    return mine;
  }
}

/** One per process: fsync is about the file system, whichever storage object asks. */
const folderSyncs = new FolderSyncs();

export class LocalStorage implements Storage {
  readonly filesDir: string;
  readonly tmpDir: string;
  readonly partials: PartialUploads;
  private filesRoot = '';
  private protectedPaths: readonly string[] = [];
  private verifiable = false;
  private readonly symlinks: SymlinkPolicy;
  private readonly guarded: readonly string[];
  private readonly digests = new DigestCache();
  private readonly usage = new UsageBook();

  constructor(options: LocalStorageOptions) {
    this.filesDir = join(options.dataDir, 'files');
    this.tmpDir = join(options.dataDir, 'tmp');
    this.partials = new PartialUploads(join(options.dataDir, 'partial'));
    this.symlinks = options.symlinks ?? 'inside';
    this.guarded = [...(options.protectedPaths ?? []), this.tmpDir, join(options.dataDir, 'partial')];
  }

  async open(): Promise<void> {
    await mkdir(this.filesDir, { recursive: true });
    await mkdir(this.tmpDir, { recursive: true });
    await this.partials.open();
    this.filesRoot = await realpath(this.filesDir);
    this.protectedPaths = await Promise.all(this.guarded.filter((path) => path !== '').map(realPathOf));
    this.verifiable = await canVerifyDescriptors(this.filesRoot);
  }

  async sweepPartials(maxAgeMs: number): Promise<number> {
    let removed = await this.partials.sweep(maxAgeMs);
    // Temp files of uploads that cannot be resumed: left only by a process that died.
    const now = Date.now();
    for (const name of await readdir(this.tmpDir).catch(() => [])) {
      const file = join(this.tmpDir, name);
      const stats = await stat(file).catch(() => undefined);
      if (stats && now - stats.mtimeMs >= maxAgeMs && (await unlink(file).then(() => true, () => false))) removed++;
    }
    return removed;
  }

  async checkWritable(): Promise<void> {
    const probe = join(this.tmpDir, `ready-${randomUUID()}.probe`);
    const handle = await open(probe, 'wx');
    try {
      await handle.write('ok');
    } finally {
      await handle.close();
      await unlink(probe).catch(() => undefined);
    }
  }

  async forHome(home: RemotePath, user: string): Promise<HomeStorage> {
    const dir = join(this.filesRoot, ...home);
    try {
      await mkdir(dir, { recursive: true });
      const root = await realpath(dir);
      if (!isInside(this.filesRoot, root)) {
        throw ferryError('BAD_PATH', `the home folder ${formatRemotePath(home)} leads outside the storage root`);
      }
      const jail = new Jail({ root, protectedPaths: this.protectedPaths, symlinks: this.symlinks, verifiable: this.verifiable });
      return new LocalHome(root, jail, this.tmpDir, this.digests, this.usage, this.partials, (path, size) =>
        this.partials.key(user, formatRemotePath(home), formatRemotePath(path), size),
      );
    } catch (error) {
      throw storageError(error, home);
    }
  }

  async close(): Promise<void> {}
}

class LocalHome implements HomeStorage {
  constructor(
    private readonly root: string,
    private readonly jail: Jail,
    private readonly tmpDir: string,
    private readonly digests: DigestCache,
    private readonly usage: UsageBook,
    private readonly partials: PartialUploads,
    private readonly partialKey: (path: RemotePath, size: number) => string,
  ) {}

  /** The SHA-256 of the open file, from the cache or by reading that same descriptor. */
  private async digestOf(handle: FileHandle, stats: Stats): Promise<string> {
    const known = this.digests.get(stats);
    if (known !== undefined) return known;
    const hash = createHash('sha256');
    await pipeline(handle.createReadStream({ start: 0, highWaterMark: IO_CHUNK_BYTES, autoClose: false }), hash);
    const digest = hash.digest('hex');
    this.digests.set(stats, digest);
    return digest;
  }

  async stat(path: RemotePath): Promise<Entry> {
    try {
      const { handle, stats } = await this.jail.open(path);
      try {
        const entry = toEntry(path.at(-1) ?? '/', stats);
        if (entry.type === 'file') entry.sha256 = await this.digestOf(handle, stats);
        return entry;
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw storageError(error, path);
    }
  }

  async *list(path: RemotePath, recursive: boolean): AsyncGenerator<Entry> {
    let top: Folder;
    try {
      top = await this.jail.folder(path);
    } catch (error) {
      throw storageError(error, path);
    }
    try {
      yield* this.entriesOf(top, path, '', recursive);
    } finally {
      await top.close();
    }
  }

  /** A folder's entries, then (recursive) each subfolder's in turn: one open folder per level. */
  private async *entriesOf(folder: Folder, where: RemotePath, prefix: string, recursive: boolean): AsyncGenerator<Entry> {
    const subfolders: string[] = [];
    try {
      for await (const { name, stats, link } of this.jail.entries(folder, where)) {
        yield toEntry(prefix + name, stats);
        if (recursive && stats.isDirectory() && !link) subfolders.push(name);
      }
    } catch (error) {
      throw storageError(error, where);
    }
    for (const name of subfolders) {
      const below = [...where, name];
      if (below.length > MAX_TREE_DEPTH || Buffer.byteLength(`${prefix}${name}/`, 'utf8') > MAX_PATH_BYTES) throw stoppedTooDeep(below, 'the listing');
      const child = await this.jail.child(folder, name, below).catch((error: unknown) => {
        throw storageError(error, below);
      });
      if (!child) continue; // Deleted or replaced while the listing came to it.
      try {
        yield* this.entriesOf(child, below, `${prefix}${name}/`, recursive);
      } finally {
        await child.close();
      }
    }
  }

  async openRead(path: RemotePath): Promise<ReadableFile> {
    let opened: Opened | undefined;
    try {
      opened = await this.jail.open(path);
      const { handle: file, stats } = opened;
      if (stats.isDirectory()) throw ferryError('IS_A_DIRECTORY', `${formatRemotePath(path)} is a folder; download it as a folder`);
      return {
        size: stats.size,
        mtime: stats.mtimeMs,
        sha256: this.digests.get(stats),
        stream: (start, end = stats.size) =>
          start >= end
            ? Readable.from([])
            : file.createReadStream({ start, end: end - 1, highWaterMark: IO_CHUNK_BYTES, autoClose: false }),
        close: () => file.close(),
      };
    } catch (error) {
      await opened?.handle.close();
      throw storageError(error, path);
    }
  }

  async beginUpload(path: RemotePath, options: UploadOptions): Promise<UploadTarget> {
    let place: Place | undefined;
    try {
      place = await this.jail.place(path, true);
      const final = join(place.folder.real, place.name);
      const existing = await lstat(place.folder.at(place.name)).catch((error: unknown) => {
        if (systemErrorCode(error) === 'ENOENT') return undefined;
        throw error;
      });
      if (existing?.isDirectory()) throw ferryError('IS_A_DIRECTORY', `${formatRemotePath(path)} is a folder`);
      if (existing && options.noClobber) {
        throw ferryError('EXISTS', `${formatRemotePath(path)} already exists and no-clobber was asked for`);
      }
      const replaced = existing?.isFile() ? existing.size : 0;
      if (options.quota > 0) {
        const used = await this.usage.of(this.root);
        if (used - replaced + options.size > options.quota) {
          throw ferryError(
            'QUOTA_EXCEEDED',
            `${formatRemotePath(path)} (${options.size} bytes) does not fit in your quota of ${options.quota} bytes (${used} in use); delete something first, or ask the server's admin for more`,
          );
        }
      }
      const committed = (): void => this.usage.added(final, options.size - replaced);
      const key = this.partialKey(path, options.size);
      if (options.resumable && (await this.partials.acquire(key))) return await this.continuePartial(key, place, path, options, committed);
      if (options.offset > 0) {
        throw ferryError('BUSY', `another upload of ${formatRemotePath(path)} is in progress; try again when it ends`);
      }
      const temp = join(this.tmpDir, `${randomUUID()}.part`);
      const handle = await open(temp, 'wx');
      return new LocalUpload({ handle, temp, place, path, noClobber: options.noClobber, mtime: options.mtime, digests: this.digests, committed });
    } catch (error) {
      await place?.folder.close();
      throw storageError(error, path);
    }
  }

  /** Opens the partial for `key` (held locked), continuing it at `offset` once its prefix checks out. */
  private async continuePartial(key: string, place: Place, path: RemotePath, options: UploadOptions, committed: () => void): Promise<UploadTarget> {
    const release = (): Promise<void> => this.partials.release(key);
    const data = this.partials.dataPath(key);
    try {
      let prefixHash: Hash | undefined;
      if (options.offset > 0) {
        const held = await stat(data).then((stats) => stats.size, () => 0);
        prefixHash = held >= options.offset ? await this.partials.prefixHash(key, options.offset) : undefined;
        if (prefixHash?.copy().digest('hex') !== options.prefixSha256) {
          throw ferryError('INTEGRITY', `the server no longer holds those first ${options.offset} bytes of ${formatRemotePath(path)}; upload it from the start`);
        }
      }
      // Appending after a truncate to the verified prefix (or to nothing) continues the data.
      const handle = await open(data, 'a');
      await handle.truncate(options.offset);
      return new LocalUpload({ handle, temp: data, place, path, noClobber: options.noClobber, mtime: options.mtime, digests: this.digests, committed, release, prefixHash });
    } catch (error) {
      await release();
      throw error;
    }
  }

  async resumeStatus(path: RemotePath, size: number): Promise<ResumeStatus> {
    try {
      const { folder } = await this.jail.place(path, true);
      await folder.close();
      return await this.partials.status(this.partialKey(path, size));
    } catch (error) {
      throw storageError(error, path);
    }
  }

  async remove(path: RemotePath, recursive: boolean): Promise<void> {
    let place: Place | undefined;
    try {
      place = await this.jail.place(path);
      const { folder, name } = place;
      const stats = await lstat(folder.at(name));
      if (stats.isDirectory() && recursive) await this.jail.removeTree(folder, name, path);
      else {
        await folder.recheck(path.slice(0, -1));
        if (stats.isDirectory()) await rmdir(folder.at(name));
        else await unlink(folder.at(name));
      }
      this.usage.forget();
    } catch (error) {
      throw storageError(error, path);
    } finally {
      await place?.folder.close();
    }
  }

  async rename(from: RemotePath, to: RemotePath, noClobber: boolean): Promise<void> {
    let source: Place;
    let sourceStats: Stats;
    try {
      source = await this.jail.place(from);
      sourceStats = await lstat(source.folder.at(source.name)).catch(async (error: unknown) => {
        await source.folder.close();
        throw error;
      });
    } catch (error) {
      throw storageError(error, from);
    }
    let target: Place | undefined;
    try {
      // A folder moved deeper must still fit the limits with everything it holds.
      const below = sourceStats.isDirectory() ? await this.jail.extent(source.folder, source.name, from) : NO_EXTENT;
      this.jail.refuseBeyondLimits(to, below);
      target = await this.jail.place(to);
      const existing = await lstat(target.folder.at(target.name)).catch(() => undefined);
      if (existing?.isDirectory()) throw ferryError('EXISTS', `${formatRemotePath(to)} is an existing folder`);
      if (existing && noClobber) throw ferryError('EXISTS', `${formatRemotePath(to)} already exists`);
      await source.folder.recheck(from.slice(0, -1));
      await target.folder.recheck(to.slice(0, -1));
      const [oldName, newName] = [source.folder.at(source.name), target.folder.at(target.name)];
      if (!noClobber) await rename(oldName, newName);
      else if (sourceStats.isDirectory()) await moveFolderNoClobber(oldName, newName);
      else await moveNoClobber(oldName, newName);
      this.usage.forget();
    } catch (error) {
      if (systemErrorCode(error) === 'EINVAL') {
        throw ferryError('BAD_PATH', `cannot move ${formatRemotePath(from)} into itself`, error);
      }
      if (systemErrorCode(error) === 'ENOENT' && !(await lstat(source.folder.at(source.name)).then(() => true, () => false))) {
        throw storageError(error, from);
      }
      throw storageError(error, to);
    } finally {
      await source.folder.close();
      await target?.folder.close();
    }
  }

  async setMtime(path: RemotePath, mtime: number): Promise<void> {
    try {
      const { handle } = await this.jail.open(path);
      try {
        await handle.utimes(new Date(), new Date(mtime));
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw storageError(error, path);
    }
  }

  async mkdir(path: RemotePath): Promise<void> {
    let place: Place | undefined;
    try {
      place = await this.jail.place(path, true);
      const { folder, name } = place;
      await folder.recheck(path.slice(0, -1));
      await mkdir(folder.at(name)).catch(async (error: unknown) => {
        if (systemErrorCode(error) !== 'EEXIST') throw error;
        const opened = await this.jail.openIn(folder, name, path);
        await opened.handle.close();
        if (!opened.stats.isDirectory()) throw ferryError('EXISTS', `${formatRemotePath(path)} exists and is a file`);
      });
    } catch (error) {
      throw storageError(error, path);
    } finally {
      await place?.folder.close();
    }
  }
}

/**
 * Moves a file (or symlink) only if nothing has the new name: link() refuses an
 * existing name atomically, where a check followed by rename() would race.
 */
async function moveNoClobber(from: string, to: string): Promise<void> {
  await link(from, to);
  try {
    await unlink(from);
  } catch (error) {
    // Another move took the old name first: the file is where that one put it.
    await unlink(to).catch(() => undefined);
    throw error;
  }
}

/**
 * Moves a folder only if nothing has the new name: claiming the name with mkdir
 * is atomic, and rename() replaces that empty folder in one step.
 */
async function moveFolderNoClobber(from: string, to: string): Promise<void> {
  await mkdir(to);
  try {
    await rename(from, to);
  } catch (error) {
    await rmdir(to).catch(() => undefined);
    throw error;
  }
}

function toEntry(name: string, stats: Stats): Entry {
  const type = stats.isDirectory() ? 'dir' : 'file';
  return { name, type, size: type === 'dir' ? 0 : stats.size, mtime: Math.trunc(stats.mtimeMs) };
}

interface LocalUploadParts {
  handle: FileHandle;
  /** Where the data is written: a temp file, or a resumable partial. */
  temp: string;
  /** Where it goes: its folder, held open and checked again at commit, and its name. */
  place: Place;
  path: RemotePath;
  noClobber: boolean;
  /** The modification time the file keeps (the commit's time when undefined). */
  mtime: number | undefined;
  digests: DigestCache;
  /** Told once the data is in place (quota bookkeeping). */
  committed: () => void;
  /** Set for a resumable partial: gives up its lock (the data is kept on suspend). */
  release?: () => Promise<void>;
  prefixHash?: Hash | undefined;
}

/** An upload's temp file (or partial); it becomes the final name on commit. */
class LocalUpload implements UploadTarget {
  private readonly writer: BatchedFileWriter;
  private readonly hash: Hash;
  private closed = false;

  constructor(private readonly parts: LocalUploadParts) {
    this.writer = new BatchedFileWriter(parts.handle);
    this.hash = parts.prefixHash ?? createHash('sha256');
  }

  digest(): Buffer {
    return this.hash.digest();
  }

  async write(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    try {
      await this.writer.write(chunk);
    } catch (error) {
      throw storageError(error, this.parts.path);
    }
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.parts.handle.close().catch(() => undefined);
    await this.parts.place.folder.close();
  }

  async commit(sha256: string): Promise<void> {
    const { handle, temp, place, path } = this.parts;
    try {
      await this.writer.flush();
      // Set before the rename, so that no reader sees the file with another time.
      if (this.parts.mtime !== undefined) await handle.utimes(new Date(), new Date(this.parts.mtime));
      await handle.sync();
      // The same inode, size and mtime after the rename: the digest cache's key.
      const stats = await handle.stat();
      // The folder may have been moved or swapped since the upload began: it must still be in the home.
      await place.folder.recheck(path.slice(0, -1));
      if (this.parts.noClobber) {
        await link(temp, place.folder.at(place.name));
        await unlink(temp);
      } else {
        await rename(temp, place.folder.at(place.name));
      }
      const folder = place.folder.real;
      await this.close();
      await folderSyncs.sync(folder);
      this.parts.committed();
      this.parts.digests.set(stats, sha256);
      await this.parts.release?.();
    } catch (error) {
      await this.abort();
      throw storageError(error, this.parts.path);
    }
  }

  async abort(): Promise<void> {
    await this.close();
    await unlink(this.parts.temp).catch(() => undefined);
    await this.parts.release?.();
  }

  async suspend(): Promise<void> {
    if (!this.parts.release) return this.abort();
    await this.writer.flush().catch(() => undefined);
    await this.parts.handle.sync().catch(() => undefined);
    await this.close();
    await this.parts.release();
  }
}
