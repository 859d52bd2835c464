/**
 * Local-disk storage. Files live under `<dataDir>/files`; uploads in flight live
 * under `<dataDir>/tmp` (same file system, outside every user's tree) until they
 * are fsynced and renamed into place. Every path is resolved through realpath and
 * checked against the home, so a symlink cannot lead a request outside it.
 */

import { createHash, randomUUID, type Hash } from 'node:crypto';
import { constants, type Dir, type Stats } from 'node:fs';
import { link, lstat, mkdir, open, opendir, readdir, readlink, realpath, rename, rm, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BatchedFileWriter } from '../io/batched-writer.js';
import { ferryError, systemErrorCode, FerryError } from '../protocol/errors.js';
import type { Entry, ResumeStatus } from '../protocol/messages.js';
import { formatRemotePath } from '../protocol/paths.js';
import { busyUpload, LedgerBooks, UploadHold, type UploadLedger } from './ledger.js';
import { PartialUploads } from './partials.js';
import { NO_LIMITS, type HomeLimits, type Usage } from './quota.js';
import type { HomeStorage, ReadableFile, RemotePath, Storage, UploadOptions, UploadTarget } from './storage.js';

/** Reads and writes move this many bytes per system call. */
const IO_CHUNK_BYTES = 1024 * 1024;
const DIGEST_CACHE_ENTRIES = 10_000;

export interface LocalStorageOptions {
  dataDir: string;
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

/** Bytes of the files and count of the entries (files and folders) below `dir`. */
async function treeUsage(dir: string): Promise<Usage> {
  const usage = { bytes: 0, entries: 0 };
  const folders = [dir];
  for (let folder = folders.pop(); folder !== undefined; folder = folders.pop()) {
    const entries = await opendir(folder).catch((error: unknown) => {
      // A folder removed while the walk went on holds nothing any more.
      if (folder !== dir && (systemErrorCode(error) === 'ENOENT' || systemErrorCode(error) === 'ENOTDIR')) return [];
      throw error;
    });
    for await (const dirent of entries) {
      const path = join(folder, dirent.name);
      usage.entries++;
      if (dirent.isDirectory()) folders.push(path);
      else if (dirent.isFile()) usage.bytes += (await lstat(path).catch(() => undefined))?.size ?? 0;
    }
  }
  return usage;
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
  private readonly digests = new DigestCache();
  private readonly ledger: UploadLedger;

  /** Without a `ledger`, this storage keeps its own books (a server of one process). */
  constructor(options: LocalStorageOptions, ledger?: UploadLedger) {
    this.filesDir = join(options.dataDir, 'files');
    this.tmpDir = join(options.dataDir, 'tmp');
    this.ledger = ledger ?? new LedgerBooks((root) => this.measure(root)).as('self');
    this.partials = new PartialUploads(join(options.dataDir, 'partial'), this.ledger);
  }

  async open(): Promise<void> {
    await mkdir(this.filesDir, { recursive: true });
    await mkdir(this.tmpDir, { recursive: true });
    await this.partials.open();
    this.filesRoot = await realpath(this.filesDir);
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

  async recover(): Promise<number> {
    let removed = await this.partials.recover();
    // Every temp file belongs to an upload of a process that no longer runs: none runs yet.
    for (const name of await readdir(this.tmpDir).catch(() => [])) {
      if (await unlink(join(this.tmpDir, name)).then(() => true, () => false)) removed++;
    }
    return removed;
  }

  measure(root: string): Promise<Usage> {
    return treeUsage(root);
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

  async forHome(home: RemotePath, user: string, limits: HomeLimits = NO_LIMITS): Promise<HomeStorage> {
    const dir = join(this.filesRoot, ...home);
    try {
      await mkdir(dir, { recursive: true });
      const root = await realpath(dir);
      if (!isInside(this.filesRoot, root)) {
        throw ferryError('BAD_PATH', `the home folder ${formatRemotePath(home)} leads outside the storage root`);
      }
      return new LocalHome(root, this.tmpDir, this.digests, { ledger: this.ledger, limits }, this.partials, (path, size) =>
        this.partials.key(user, formatRemotePath(home), formatRemotePath(path), size),
      );
    } catch (error) {
      throw storageError(error, home);
    }
  }

  async close(): Promise<void> {}
}

function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root + sep);
}

class LocalHome implements HomeStorage {
  constructor(
    private readonly root: string,
    private readonly tmpDir: string,
    private readonly digests: DigestCache,
    private readonly quota: { ledger: UploadLedger; limits: HomeLimits },
    private readonly partials: PartialUploads,
    private readonly partialKey: (path: RemotePath, size: number) => string,
  ) {}

  /**
   * Follows `path` from the home one segment at a time. A symlink is followed only
   * when its target stays inside the home; one that leads outside (or loops) is
   * refused with BAD_PATH before anything behind it is looked at, so a request can
   * neither use nor probe what lies outside. Returns the real location of the
   * longest existing prefix and the segments below it that do not exist.
   */
  private async walk(path: RemotePath): Promise<{ real: string; missing: string[] }> {
    let real = this.root;
    for (const [index, segment] of path.entries()) {
      const next = join(real, segment);
      let stats: Stats;
      try {
        stats = await lstat(next);
      } catch (error) {
        if (systemErrorCode(error) === 'ENOENT') return { real, missing: path.slice(index) };
        throw error;
      }
      if (stats.isSymbolicLink()) {
        real = await this.followLink(next, path);
        continue;
      }
      if (!stats.isDirectory() && index < path.length - 1) {
        throw ferryError('NOT_A_DIRECTORY', `${formatRemotePath(path.slice(0, index + 1))} is a file, not a folder`);
      }
      real = next;
    }
    return { real, missing: [] };
  }

  /** Where a link inside the home leads, refused unless that is inside the home too. */
  private async followLink(link: string, path: RemotePath): Promise<string> {
    const outside = (): FerryError => ferryError('BAD_PATH', `${formatRemotePath(path)} goes through a link that leads outside your home`);
    try {
      const target = await realpath(link);
      if (!isInside(this.root, target)) throw outside();
      return target;
    } catch (error) {
      if (error instanceof FerryError) throw error;
      if (systemErrorCode(error) !== 'ENOENT') throw outside(); // ELOOP and the like: not a usable way anywhere.
      // A dangling link: judge it by where it points, without telling what is there.
      const target = resolvePath(dirname(link), await readlink(link));
      if (!isInside(this.root, target)) throw outside();
      throw ferryError('NOT_FOUND', `${formatRemotePath(path)} does not exist`, error);
    }
  }

  /** The real location of an existing path. */
  private async resolveExisting(path: RemotePath): Promise<string> {
    const { real, missing } = await this.walk(path);
    if (missing.length > 0) throw ferryError('NOT_FOUND', `${formatRemotePath(path)} does not exist`);
    return real;
  }

  /**
   * Where an entry itself lives: the real parent folder plus the literal name, so
   * that rename, delete and replace act on a symlink rather than on what it points to.
   */
  private async resolveEntry(path: RemotePath): Promise<string> {
    if (path.length === 0) throw ferryError('BAD_PATH', 'that cannot be done to your home folder itself');
    const parent = await this.resolveExisting(path.slice(0, -1));
    return join(parent, path[path.length - 1] as string);
  }

  /**
   * Like resolveEntry, for an entry about to be made: also the parent folders that
   * do not exist yet, which the caller makes only once it commits to the entry.
   */
  private async resolveToCreate(path: RemotePath): Promise<{ final: string; folders: NewFolders }> {
    if (path.length === 0) throw ferryError('BAD_PATH', 'that cannot be done to your home folder itself');
    const { real, missing } = await this.walk(path.slice(0, -1));
    return { final: join(real, ...missing, path[path.length - 1] as string), folders: { base: real, missing } };
  }

  /** Where this home's usage is booked: its root, ending in the separator. */
  private get bookRoot(): string {
    return this.root + sep;
  }

  private async digestOf(file: string, stats: Stats): Promise<string> {
    const known = this.digests.get(stats);
    if (known !== undefined) return known;
    const hash = createHash('sha256');
    const handle = await open(file, 'r');
    try {
      await pipeline(handle.createReadStream({ highWaterMark: IO_CHUNK_BYTES, autoClose: false }), hash);
    } finally {
      await handle.close();
    }
    const digest = hash.digest('hex');
    this.digests.set(stats, digest);
    return digest;
  }

  async stat(path: RemotePath): Promise<Entry> {
    try {
      const real = await this.resolveExisting(path);
      const stats = await stat(real);
      const entry = toEntry(path.at(-1) ?? '/', stats);
      if (entry.type === 'file') entry.sha256 = await this.digestOf(real, stats);
      return entry;
    } catch (error) {
      throw storageError(error, path);
    }
  }

  async *list(path: RemotePath, recursive: boolean): AsyncGenerator<Entry> {
    let dir: string;
    try {
      dir = await this.resolveExisting(path);
      const stats = await stat(dir);
      if (!stats.isDirectory()) throw ferryError('NOT_A_DIRECTORY', `${formatRemotePath(path)} is a file, not a folder`);
    } catch (error) {
      throw storageError(error, path);
    }
    yield* this.entriesOf(dir, '', recursive);
  }

  private async *entriesOf(dir: string, prefix: string, recursive: boolean): AsyncGenerator<Entry> {
    const folders: string[] = [];
    let handle: Dir;
    try {
      handle = await opendir(dir, { bufferSize: 256 });
    } catch (error) {
      // A folder deleted (or replaced by a file) while the listing walked to it.
      if (prefix !== '' && (systemErrorCode(error) === 'ENOENT' || systemErrorCode(error) === 'ENOTDIR')) return;
      throw storageError(error, prefix === '' ? [] : prefix.split('/').filter(Boolean));
    }
    for await (const dirent of handle) {
      const full = join(dir, dirent.name);
      let stats: Stats;
      try {
        if (dirent.isSymbolicLink() && !isInside(this.root, await realpath(full))) continue;
        stats = await stat(full);
      } catch {
        continue; // Vanished while listing, or a dangling link: not an entry anyone can use.
      }
      if (!stats.isFile() && !stats.isDirectory()) continue;
      const name = prefix + dirent.name;
      yield toEntry(name, stats);
      if (recursive && stats.isDirectory() && !dirent.isSymbolicLink()) folders.push(dirent.name);
    }
    for (const folder of folders) yield* this.entriesOf(join(dir, folder), `${prefix}${folder}/`, recursive);
  }

  async openRead(path: RemotePath): Promise<ReadableFile> {
    let handle: FileHandle | undefined;
    try {
      const real = await this.resolveExisting(path);
      handle = await open(real, 'r');
      const stats = await handle.stat();
      if (stats.isDirectory()) throw ferryError('IS_A_DIRECTORY', `${formatRemotePath(path)} is a folder; download it as a folder`);
      const file = handle;
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
      await handle?.close();
      throw storageError(error, path);
    }
  }

  async beginUpload(path: RemotePath, options: UploadOptions): Promise<UploadTarget> {
    let hold: UploadHold | undefined;
    let resumable = false;
    try {
      // Missing folders on the way are made at commit: a refused or failed upload leaves none behind.
      const { final, folders } = await this.resolveToCreate(path);
      const existing =
        folders.missing.length > 0
          ? undefined
          : await lstat(final).catch((error: unknown) => {
              if (systemErrorCode(error) === 'ENOENT') return undefined;
              throw error;
            });
      if (existing?.isDirectory()) throw ferryError('IS_A_DIRECTORY', `${formatRemotePath(path)} is a folder`);
      if (existing && options.noClobber) {
        throw ferryError('EXISTS', `${formatRemotePath(path)} already exists and no-clobber was asked for`);
      }
      const key = this.partialKey(path, options.size);
      const home = { root: this.bookRoot, limits: this.quota.limits };
      const entries = (existing ? 0 : 1) + folders.missing.length;
      const booking = { ...home, path, size: options.size, location: final, replaced: existing?.isFile() ? existing.size : 0, entries };
      const taken = await UploadHold.take(this.quota.ledger, booking, options.resumable ? key : undefined);
      hold = taken.hold;
      resumable = taken.resumable;
      const parts = { final, folders, path, noClobber: options.noClobber, digests: this.digests, hold };
      if (taken.resumable) return await this.continuePartial(key, parts, options);
      if (options.offset > 0) throw busyUpload(formatRemotePath(path));
      const temp = join(this.tmpDir, `${hold.id}.part`);
      const handle = await open(temp, 'wx');
      return new LocalUpload({ ...parts, handle, temp, resumable: false });
    } catch (error) {
      // A partial that could not be continued is still on disk: it keeps its room.
      await (resumable ? hold?.suspend() : hold?.abort());
      throw storageError(error, path);
    }
  }

  /** Opens the partial for `key` (held locked), continuing it at `offset` once its prefix checks out. */
  private async continuePartial(key: string, parts: Omit<LocalUploadParts, 'handle' | 'temp' | 'resumable'>, options: UploadOptions): Promise<UploadTarget> {
    const data = this.partials.dataPath(key);
    let prefixHash: Hash | undefined;
    if (options.offset > 0) {
      const held = await stat(data).then((stats) => stats.size, () => 0);
      prefixHash = held >= options.offset ? await this.partials.prefixHash(key, options.offset) : undefined;
      if (prefixHash?.copy().digest('hex') !== options.prefixSha256) {
        throw ferryError('INTEGRITY', `the server no longer holds those first ${options.offset} bytes of ${formatRemotePath(parts.path)}; upload it from the start`);
      }
    }
    // Appending after a truncate to the verified prefix (or to nothing) continues the data.
    const handle = await open(data, 'a');
    await handle.truncate(options.offset);
    return new LocalUpload({ ...parts, handle, temp: data, resumable: true, prefixHash });
  }

  async resumeStatus(path: RemotePath, size: number): Promise<ResumeStatus> {
    try {
      await this.resolveToCreate(path);
      return await this.partials.status(this.partialKey(path, size));
    } catch (error) {
      throw storageError(error, path);
    }
  }

  async remove(path: RemotePath, recursive: boolean): Promise<void> {
    try {
      const entry = await this.resolveEntry(path);
      const stats = await lstat(entry);
      try {
        if (!stats.isDirectory()) await unlink(entry);
        else if (recursive) await rm(entry, { recursive: true });
        else await rmdir(entry);
      } finally {
        // Even a recursive delete that failed half-way freed something.
        await this.quota.ledger.changed(entry);
      }
    } catch (error) {
      throw storageError(error, path);
    }
  }

  async rename(from: RemotePath, to: RemotePath, noClobber: boolean): Promise<void> {
    let source: string;
    try {
      source = await this.resolveEntry(from);
      await lstat(source);
    } catch (error) {
      throw storageError(error, from);
    }
    try {
      const target = await this.resolveEntry(to);
      const existing = await lstat(target).catch(() => undefined);
      if (existing?.isDirectory()) throw ferryError('EXISTS', `${formatRemotePath(to)} is an existing folder`);
      if (existing && noClobber) throw ferryError('EXISTS', `${formatRemotePath(to)} already exists`);
      try {
        await rename(source, target);
      } finally {
        await this.quota.ledger.changed(source);
        await this.quota.ledger.changed(target);
      }
    } catch (error) {
      if (systemErrorCode(error) === 'EINVAL') {
        throw ferryError('BAD_PATH', `cannot move ${formatRemotePath(from)} into itself`, error);
      }
      throw storageError(error, to);
    }
  }

  async mkdir(path: RemotePath): Promise<void> {
    try {
      if (path.length === 0) throw ferryError('BAD_PATH', 'that cannot be done to your home folder itself');
      const { real, missing } = await this.walk(path);
      if (missing.length === 0) {
        if (!(await stat(real)).isDirectory()) throw ferryError('EXISTS', `${formatRemotePath(path)} exists and is a file`);
        return;
      }
      await this.quota.ledger.add({
        id: randomUUID(),
        root: this.bookRoot,
        location: join(real, ...missing),
        bytes: 0,
        entries: missing.length,
        limits: this.quota.limits,
        what: formatRemotePath(path),
      });
      await mkdir(join(real, ...missing), { recursive: true });
    } catch (error) {
      throw storageError(error, path);
    }
  }
}

function toEntry(name: string, stats: Stats): Entry {
  const type = stats.isDirectory() ? 'dir' : 'file';
  return { name, type, size: type === 'dir' ? 0 : stats.size, mtime: Math.trunc(stats.mtimeMs) };
}

/** Folders an upload needs that do not exist yet: `missing` below the existing `base`. */
interface NewFolders {
  base: string;
  missing: readonly string[];
}

interface LocalUploadParts {
  handle: FileHandle;
  /** Where the data is written: a temp file, or a resumable partial. */
  temp: string;
  final: string;
  /** Made at commit, just before the rename. */
  folders: NewFolders;
  path: RemotePath;
  noClobber: boolean;
  digests: DigestCache;
  /** Its room in the quota book and, when resumable, the lock on its partial. */
  hold: UploadHold;
  /** The data is a partial, kept on suspend for a later upload to continue. */
  resumable: boolean;
  prefixHash?: Hash | undefined;
}

/** Makes the folders an upload needs, each made durable in its parent as the file will be in its folder. */
async function makeFolders({ base, missing }: NewFolders): Promise<void> {
  if (missing.length === 0) return;
  await mkdir(join(base, ...missing), { recursive: true });
  for (let depth = 0; depth < missing.length; depth++) await folderSyncs.sync(join(base, ...missing.slice(0, depth)));
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
  }

  async commit(sha256: string): Promise<void> {
    const { handle, temp, final } = this.parts;
    try {
      await this.writer.flush();
      await handle.sync();
      // The same inode, size and mtime after the rename: the digest cache's key.
      const stats = await handle.stat();
      await this.close();
      await makeFolders(this.parts.folders);
      if (this.parts.noClobber) {
        await link(temp, final);
        await unlink(temp);
      } else {
        await rename(temp, final);
      }
      await folderSyncs.sync(dirname(final));
      await this.parts.hold.commit();
      this.parts.digests.set(stats, sha256);
    } catch (error) {
      await this.abort();
      throw storageError(error, this.parts.path);
    }
  }

  async abort(): Promise<void> {
    await this.close();
    await unlink(this.parts.temp).catch(() => undefined);
    await this.parts.hold.abort();
  }

  async suspend(): Promise<void> {
    if (!this.parts.resumable) return this.abort();
    await this.writer.flush().catch(() => undefined);
    await this.parts.handle.sync().catch(() => undefined);
    await this.close();
    await this.parts.hold.suspend();
  }
}
