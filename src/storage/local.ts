/**
 * Local-disk storage. Files live under `<dataDir>/files`; uploads in flight live
 * under `<dataDir>/tmp` (same file system, outside every user's tree) until they
 * are fsynced and renamed into place. Every path goes through the jail
 * (./jail.ts), which checks open descriptors rather than path strings, so neither
 * a symlink nor a tree changed underneath can lead a request outside the home.
 */

import { createHash, randomUUID, type Hash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { link, lstat, mkdir, open, readdir, realpath, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BatchedFileWriter } from '../io/batched-writer.js';
import { ferryError, systemErrorCode, FerryError } from '../protocol/errors.js';
import type { Entry } from '../protocol/messages.js';
import { formatRemotePath, MAX_PATH_BYTES } from '../protocol/paths.js';
import { canVerifyDescriptors, FolderCache, isInside, Jail, type Folder, type Opened, type Place, type Planned, type SymlinkPolicy } from './jail.js';
import { DigestCache } from './digest-cache.js';
import { bookFolders, busyUpload, LedgerBooks, UploadHold, type UploadLedger } from './ledger.js';
import { PartialUploads } from './partials.js';
import { NO_LIMITS, type HomeLimits, type Usage } from './quota.js';
import { existsNoClobber } from './refusals.js';
import type { HomeStorage, ReadableFile, RemotePath, Storage, UploadOptions, UploadStatus, UploadTarget } from './storage.js';
import { MAX_TREE_DEPTH, NO_EXTENT, stoppedTooDeep } from './tree-limits.js';

/** Reads and writes move this many bytes per system call. */
const IO_CHUNK_BYTES = 1024 * 1024;

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
 * Adds the bytes of the files and the count of the entries (files and folders)
 * below the open `folder` to `usage`, one open folder per level, through the jail:
 * a folder swapped for a link while the walk goes on adds nothing from outside.
 * What no request could use is not counted: links, special files, protected and
 * unnameable names, levels past the tree limit.
 */
async function addTreeUsage(jail: Jail, folder: Folder, path: RemotePath, usage: Usage): Promise<void> {
  const subfolders: string[] = [];
  for await (const { name, stats } of jail.entries(folder, path)) {
    usage.entries++;
    if (stats.isDirectory()) subfolders.push(name);
    else usage.bytes += stats.size;
  }
  if (path.length >= MAX_TREE_DEPTH) return;
  for (const name of subfolders) {
    const child = await jail.child(folder, name, [...path, name]);
    if (!child) continue; // Removed or replaced meanwhile: it holds nothing any more.
    try {
      await addTreeUsage(jail, child, [...path, name], usage);
    } finally {
      await child.close();
    }
  }
}

/** Digests by file identity (device, inode, size, time), unlike an object store's by key and ETag. */
type FileDigestCache = DigestCache<Stats>;

function fileDigestCache(): FileDigestCache {
  return new DigestCache((stats) => `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`);
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

  /**
   * Resolves after an fsync of `dir` that began after this call. `viaHandle` (a
   * descriptor of that folder the caller holds open until this resolves) spares
   * opening the folder by its path again when this call's fsync is the one run.
   */
  sync(dir: string, viaHandle?: () => Promise<void>): Promise<void> {
    const waiting = this.queued.get(dir);
    if (waiting) return waiting;
    const before = this.running.get(dir) ?? Promise.resolve();
    const mine: Promise<void> = before
      .catch(() => undefined)
      .then(() => {
        this.queued.delete(dir); // From here on, newcomers need the fsync after this one.
        this.running.set(dir, mine);
        return viaHandle ? viaHandle() : this.fsync(dir);
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
  private readonly digests = fileDigestCache();
  /** Folders kept open between requests, for every home of this storage. */
  private readonly folders = new FolderCache();
  private readonly ledger: UploadLedger;

  /** Without a `ledger`, this storage keeps its own books (a server of one process). */
  constructor(options: LocalStorageOptions, ledger?: UploadLedger) {
    this.filesDir = join(options.dataDir, 'files');
    this.tmpDir = join(options.dataDir, 'tmp');
    this.ledger = ledger ?? new LedgerBooks((root) => this.measure(root)).as('self');
    this.partials = new PartialUploads(join(options.dataDir, 'partial'), this.ledger);
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

  async recover(): Promise<number> {
    let removed = await this.partials.recover();
    // Every temp file belongs to an upload of a process that no longer runs: none runs yet.
    for (const name of await readdir(this.tmpDir).catch(() => [])) {
      if (await unlink(join(this.tmpDir, name)).then(() => true, () => false)) removed++;
    }
    return removed;
  }

  async measure(root: string): Promise<Usage> {
    // The ledger knows a home by its real path ending in the separator.
    const home = root.endsWith(sep) && root !== sep ? root.slice(0, -1) : root;
    const jail = new Jail({ root: home, protectedPaths: this.protectedPaths, symlinks: 'refuse', verifiable: this.verifiable });
    const top = await jail.folder([]);
    const usage = { bytes: 0, entries: 0 };
    try {
      await addTreeUsage(jail, top, [], usage);
    } finally {
      await top.close();
    }
    return usage;
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
      const jail = new Jail({ root, protectedPaths: this.protectedPaths, symlinks: this.symlinks, verifiable: this.verifiable, folders: this.folders });
      return new LocalHome(root, jail, this.tmpDir, this.digests, { ledger: this.ledger, limits }, this.partials, (path, size) =>
        this.partials.key(user, formatRemotePath(home), formatRemotePath(path), size),
      );
    } catch (error) {
      throw storageError(error, home);
    }
  }

  async close(): Promise<void> {
    this.folders.clear();
  }
}

class LocalHome implements HomeStorage {
  constructor(
    private readonly root: string,
    private readonly jail: Jail,
    private readonly tmpDir: string,
    private readonly digests: FileDigestCache,
    private readonly quota: { ledger: UploadLedger; limits: HomeLimits },
    private readonly partials: PartialUploads,
    private readonly partialKey: (path: RemotePath, size: number) => string,
  ) {}

  /** Where this home's usage is booked: its root, ending in the separator. */
  private get bookRoot(): string {
    return this.root + sep;
  }

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
    let planned: Planned | undefined;
    let hold: UploadHold | undefined;
    let resumable = false;
    try {
      // Missing folders on the way are made at commit: a refused or failed upload leaves none behind.
      planned = await this.jail.plan(path);
      const { folder, missing, name } = planned;
      const existing =
        missing.length > 0
          ? undefined
          : await lstat(folder.at(name)).catch((error: unknown) => {
              if (systemErrorCode(error) === 'ENOENT') return undefined;
              throw error;
            });
      if (existing?.isDirectory()) throw ferryError('IS_A_DIRECTORY', `${formatRemotePath(path)} is a folder`);
      if (existing && options.noClobber) throw existsNoClobber(path);
      const key = this.partialKey(path, options.size);
      const booking = {
        root: this.bookRoot,
        limits: this.quota.limits,
        path,
        size: options.size,
        location: join(folder.real, ...missing, name),
        replaced: existing?.isFile() ? existing.size : 0,
        entries: (existing ? 0 : 1) + missing.length,
      };
      const taken = await UploadHold.take(this.quota.ledger, booking, options.resumable ? key : undefined);
      hold = taken.hold;
      resumable = taken.resumable;
      const parts = { jail: this.jail, planned, path, noClobber: options.noClobber, mtime: options.mtime, digests: this.digests, hold };
      if (resumable) return await this.continuePartial(key, parts, options);
      if (options.offset > 0) throw busyUpload(formatRemotePath(path));
      const temp = join(this.tmpDir, `${hold.id}.part`);
      const handle = await open(temp, 'wx');
      return new LocalUpload({ ...parts, handle, temp, resumable: false });
    } catch (error) {
      await planned?.folder.close();
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
    // A checkpoint past the verified prefix no longer describes what the partial will hold.
    const record = await this.partials.record(key);
    if (record !== undefined && record.length > options.offset) await this.partials.checkpoint(key, options.offset);
    // Appending after a truncate to the verified prefix (or to nothing) continues the data.
    const handle = await open(data, 'a');
    await handle.truncate(options.offset);
    const held = {
      offset: options.offset,
      record: (length: number) => this.partials.checkpoint(key, length),
      forget: () => this.partials.forget(key),
    };
    return new LocalUpload({ ...parts, handle, temp: data, resumable: true, prefixHash, held });
  }

  async resumeStatus(path: RemotePath, size: number): Promise<UploadStatus> {
    try {
      // Checked as an upload there would be, without making its folders.
      const { folder } = await this.jail.plan(path);
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
      try {
        if (stats.isDirectory() && recursive) await this.jail.removeTree(folder, name, path);
        else {
          await folder.recheck(path.slice(0, -1));
          if (stats.isDirectory()) await rmdir(folder.at(name));
          else await unlink(folder.at(name));
        }
      } finally {
        // Even a recursive delete that failed half-way freed something.
        await this.quota.ledger.changed(join(folder.real, name));
      }
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
      try {
        if (!noClobber) await rename(oldName, newName);
        else if (sourceStats.isDirectory()) await moveFolderNoClobber(oldName, newName);
        else await moveNoClobber(oldName, newName);
      } finally {
        await this.quota.ledger.changed(join(source.folder.real, source.name));
        await this.quota.ledger.changed(join(target.folder.real, target.name));
      }
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
    let planned: Planned | undefined;
    let place: Place | undefined;
    try {
      planned = await this.jail.plan(path);
      const { folder, missing, name } = planned;
      if (missing.length === 0 && (await lstat(folder.at(name)).then(() => true, () => false))) {
        await this.refuseUnlessFolder(folder, name, path);
        return;
      }
      const location = join(folder.real, ...missing, name);
      // The folders are booked before they are made, so that the entry limit holds under concurrency.
      await bookFolders(this.quota.ledger, { root: this.bookRoot, limits: this.quota.limits, path, location, entries: missing.length + 1 });
      place = await this.jail.build(planned);
      planned = undefined;
      const made = place;
      await mkdir(made.folder.at(name)).catch(async (error: unknown) => {
        if (systemErrorCode(error) !== 'EEXIST') throw error;
        // Made by another request meanwhile: it was booked twice, so the home is measured again.
        await this.quota.ledger.changed(location);
        await this.refuseUnlessFolder(made.folder, name, path);
      });
    } catch (error) {
      throw storageError(error, path);
    } finally {
      await planned?.folder.close();
      await place?.folder.close();
    }
  }

  /** Refuses with EXISTS unless `name` in `folder` is a folder (or a link to one inside the home). */
  private async refuseUnlessFolder(folder: Folder, name: string, path: RemotePath): Promise<void> {
    const opened = await this.jail.openIn(folder, name, path);
    await opened.handle.close();
    if (!opened.stats.isDirectory()) throw ferryError('EXISTS', `${formatRemotePath(path)} exists and is a file`);
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
  jail: Jail;
  /**
   * Where it goes: the deepest existing folder on its way, held open, and the
   * folders still missing below it, made (through the jail) only at commit.
   */
  planned: Planned;
  path: RemotePath;
  noClobber: boolean;
  /** The modification time the file keeps (the commit's time when undefined). */
  mtime: number | undefined;
  digests: FileDigestCache;
  /** Its room in the quota book and, when resumable, the lock on its partial. */
  hold: UploadHold;
  /** The data is a partial, kept on suspend for a later upload to continue. */
  resumable: boolean;
  prefixHash?: Hash | undefined;
  /** For a partial: where this upload began in it, and its record of the bytes made durable. */
  held?: { offset: number; record(length: number): Promise<void>; forget(): Promise<void> };
}

/**
 * An upload's data is made durable every this many bytes while it arrives: the
 * fsync before the OK then only has the last few megabytes to write, and a partial
 * keeps its checkpointed bytes even through a crash of the machine.
 */
export const CHECKPOINT_BYTES = 4 * 1024 * 1024;

/** An upload's temp file (or partial); it becomes the final name on commit. */
class LocalUpload implements UploadTarget {
  private readonly writer: BatchedFileWriter;
  private readonly hash: Hash;
  private closed = false;
  /** The folder held open: the planned one, then the one the file lands in. */
  private folder: Folder;
  /** Bytes of this upload covered by the last checkpoint, the one running, and its first failure. */
  private checkpointed = 0;
  private checkpointing: Promise<void> | undefined;
  private checkpointFailure: { error: unknown } | undefined;

  constructor(private readonly parts: LocalUploadParts) {
    this.writer = new BatchedFileWriter(parts.handle);
    this.hash = parts.prefixHash ?? createHash('sha256');
    this.folder = parts.planned.folder;
  }

  digest(): Buffer {
    return this.hash.digest();
  }

  async write(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    try {
      await this.writer.write(chunk);
      if (this.checkpointFailure) throw this.checkpointFailure.error;
    } catch (error) {
      throw storageError(error, this.parts.path);
    }
    if (this.checkpointing === undefined && this.writer.written - this.checkpointed >= CHECKPOINT_BYTES) this.checkpoint();
  }

  /** Makes what the file system has taken so far durable, behind the writes that go on meanwhile. */
  private checkpoint(): void {
    const upTo = this.writer.written;
    const { handle, held } = this.parts;
    this.checkpointing = handle
      .datasync()
      .then(
        async () => {
          this.checkpointed = upTo;
          // A record not written only leaves an older one, which claims less: a crash then costs more to resume, nothing else.
          await held?.record(held.offset + upTo).catch(() => undefined);
        },
        (error: unknown) => {
          // After a failed fsync the kernel may drop the data it could not write: the upload cannot end well.
          this.checkpointFailure ??= { error };
        },
      )
      .finally(() => {
        this.checkpointing = undefined;
      });
  }

  /** Waits for the checkpoint in progress; throws if any failed. */
  private async checkpointsDone(): Promise<void> {
    await this.checkpointing;
    if (this.checkpointFailure) throw this.checkpointFailure.error;
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.parts.handle.close().catch(() => undefined);
    await this.folder.close();
  }

  async commit(sha256: string): Promise<void> {
    const { handle, temp, jail, planned } = this.parts;
    try {
      await this.writer.flush();
      await this.checkpointsDone();
      // Set before the rename, so that no reader sees the file with another time.
      if (this.parts.mtime !== undefined) await handle.utimes(new Date(), new Date(this.parts.mtime));
      await handle.sync();
      // The same inode, size and mtime after the rename: the digest cache's key.
      const stats = await handle.stat();
      // Missing folders are made now, each through the folder above it; the folder the
      // file lands in is checked again, as it may have been moved or swapped since the upload began.
      const place = await jail.build(planned);
      this.folder = place.folder;
      const folder = place.folder.real;
      // Each new folder is made durable in its parent, as the file will be in its folder.
      for (let made = 0, parent = folder; made < planned.missing.length; made++) {
        parent = dirname(parent);
        await folderSyncs.sync(parent);
      }
      if (this.parts.noClobber) {
        await link(temp, place.folder.at(place.name));
        await unlink(temp);
      } else {
        await rename(temp, place.folder.at(place.name));
      }
      // Through the folder held open, which stays open until the fsync is done.
      await folderSyncs.sync(folder, () => place.folder.handle.sync());
      await this.close();
      await this.parts.held?.forget();
      await this.parts.hold.commit();
      this.parts.digests.set(stats, sha256);
    } catch (error) {
      await this.abort();
      throw storageError(error, this.parts.path);
    }
  }

  async abort(): Promise<void> {
    await this.checkpointing;
    await this.close();
    await unlink(this.parts.temp).catch(() => undefined);
    await this.parts.held?.forget();
    await this.parts.hold.abort();
  }

  async suspend(): Promise<void> {
    if (!this.parts.resumable) return this.abort();
    await this.writer.flush().catch(() => undefined);
    await this.checkpointing;
    // Everything written is durable once the fsync succeeds: the record says so, for a crash of the machine.
    const synced = !this.checkpointFailure && (await this.parts.handle.sync().then(() => true, () => false));
    if (synced) await this.parts.held?.record(this.parts.held.offset + this.writer.written).catch(() => undefined);
    await this.close();
    await this.parts.hold.suspend();
  }
}
