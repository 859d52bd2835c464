/**
 * One home on local disk: the file operations of a request (stat, list, read,
 * upload, remove, rename, mkdir, times), each through the jail, with the quota
 * book told of what changed. What an upload does once begun is in ./upload.ts.
 * Kept as one class although past 300 lines: these are the operations of one
 * interface, on the same jail and books.
 */

import { createHash, type Hash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat, mkdir, open, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DIRECT_MIN_BYTES, openDirect } from '../../io/direct-file-writer.js';
import { ferryError, systemErrorCode } from '../../protocol/errors.js';
import type { Entry } from '../../protocol/messages.js';
import { formatRemotePath, MAX_PATH_BYTES } from '../../protocol/paths.js';
import { bookFolders, busyUpload, UploadHold, type UploadLedger } from '../ledger.js';
import type { HomeLimits } from '../quota.js';
import { existsNoClobber } from '../refusals.js';
import type { HomeStorage, ReadableFile, RemotePath, UploadOptions, UploadStatus, UploadTarget } from '../storage.js';
import { MAX_TREE_DEPTH, NO_EXTENT, stoppedTooDeep } from '../tree-limits.js';
import type { FileDigestCache } from './digests.js';
import { storageError } from './errors.js';
import type { Folder, Jail, Opened, Place, Planned } from './jail/index.js';
import { moveFolderNoClobber, moveNoClobber } from './moves.js';
import type { PartialUploads } from './partials.js';
import { LocalUpload, type LocalUploadSetup } from './upload.js';

/** Reads and writes move this many bytes per system call. */
const IO_CHUNK_BYTES = 1024 * 1024;

export class LocalHome implements HomeStorage {
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
        readAt: async (into, position) => (await file.read(into, 0, into.length, position)).bytesRead,
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
      const setup = { jail: this.jail, planned, path, noClobber: options.noClobber, mtime: options.mtime, digests: this.digests, hold };
      if (resumable) return await this.continuePartial(key, setup, options);
      if (options.offset > 0) throw busyUpload(formatRemotePath(path));
      const temp = join(this.tmpDir, `${hold.id}.part`);
      const handle = await open(temp, 'wx');
      return new LocalUpload({ ...setup, handle, direct: await directFor(temp, options.size, 0), temp, resumable: false });
    } catch (error) {
      await planned?.folder.close();
      // A partial that could not be continued is still on disk: it keeps its room.
      await (resumable ? hold?.suspend() : hold?.abort());
      throw storageError(error, path);
    }
  }

  /** Opens the partial for `key` (held locked), continuing it at `offset` once its prefix checks out. */
  private async continuePartial(key: string, setup: Omit<LocalUploadSetup, 'handle' | 'temp' | 'resumable'>, options: UploadOptions): Promise<UploadTarget> {
    const data = this.partials.dataPath(key);
    let prefixHash: Hash | undefined;
    if (options.offset > 0) {
      const kept = await stat(data).then((stats) => stats.size, () => 0);
      prefixHash = kept >= options.offset ? await this.partials.prefixHash(key, options.offset) : undefined;
      if (prefixHash?.copy().digest('hex') !== options.prefixSha256) {
        throw ferryError('INTEGRITY', `the server no longer holds those first ${options.offset} bytes of ${formatRemotePath(setup.path)}; upload it from the start`);
      }
    }
    // A checkpoint past the verified prefix no longer describes what the partial will hold.
    const record = await this.partials.record(key);
    if (record !== undefined && record.length > options.offset) await this.partials.checkpoint(key, options.offset);
    // Appending after a truncate to the verified prefix (or to nothing) continues the data.
    const handle = await open(data, 'a');
    await handle.truncate(options.offset);
    const partial = {
      offset: options.offset,
      checkpoint: (length: number) => this.partials.checkpoint(key, length),
      forget: () => this.partials.forget(key),
    };
    return new LocalUpload({ ...setup, handle, direct: await directFor(data, options.size, options.offset), temp: data, resumable: true, prefixHash, partial });
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

function toEntry(name: string, stats: Stats): Entry {
  const type = stats.isDirectory() ? 'dir' : 'file';
  return { name, type, size: type === 'dir' ? 0 : stats.size, mtime: Math.trunc(stats.mtimeMs) };
}

/**
 * A direct-I/O handle for a large upload written from its start; a continued partial
 * starts at an arbitrary offset, where direct writes (aligned only) cannot begin.
 */
async function directFor(path: string, size: number, offset: number): Promise<FileHandle | undefined> {
  return offset === 0 && size >= DIRECT_MIN_BYTES ? openDirect(path) : undefined;
}
