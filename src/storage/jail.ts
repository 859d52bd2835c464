/**
 * The jail that keeps one user's requests inside their home on local disk while
 * others may change the tree underneath (a second account on the host, a share of
 * the data folder). A check on a path string says nothing about what the same
 * string names a moment later, so every check is made on an open descriptor and
 * every action goes through that same descriptor:
 *
 * - A path is walked one name at a time from the home, each name opened relative
 *   to the folder opened before it: `/proc/self/fd/N/name`, which the kernel
 *   resolves from the open folder N itself, wherever it has moved since.
 * - A name is opened without following symlinks. A symlink is followed only under
 *   the `inside` policy, and what it opened is then checked to lie inside the home
 *   by the real path of its descriptor (the target of `/proc/self/fd/N`).
 * - Names are opened with O_NONBLOCK and only regular files and folders are used:
 *   a FIFO, socket or device can neither stall the server nor be served.
 * - Immediately before a commit, rename or unlink, the folder it acts in is checked
 *   again, and the action is refused when that folder has left the home.
 * - Protected paths (the users file, TLS key, uploads in flight) are never used,
 *   even where the configuration puts them inside a home.
 *
 * Without /proc/self/fd (not Linux) a descriptor's location cannot be read back:
 * the jail then follows no symlink at all and compares each folder it acts in
 * with the descriptor it opened. That narrows the race but cannot close it (see
 * docs/security.md).
 */

import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, opendir, readdir, readlink, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ferryError, FerryError, systemErrorCode } from '../protocol/errors.js';
import { formatRemotePath, isNameable, MAX_PATH_BYTES } from '../protocol/paths.js';
import { homeFolderItself } from './refusals.js';
import { MAX_DISK_PATH_BYTES, MAX_TREE_DEPTH, refuseBeyondLimits, stoppedTooDeep, type TreeExtent } from './tree-limits.js';

/** Whether symlinks in a home are followed (when they lead inside it) or refused outright. */
export type SymlinkPolicy = 'inside' | 'refuse';

const FD_DIR = '/proc/self/fd';
/** Opens any entry without following a final symlink and without waiting on a FIFO or device. */
const OPEN_NOFOLLOW = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;
const OPEN_FOLLOW = constants.O_RDONLY | constants.O_NONBLOCK;
const OPEN_FOLDER = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_DIRECTORY;

export interface JailOptions {
  /** Real path of the home. */
  root: string;
  /** Real paths no home may reach: each one, what lies below it, and its temporary siblings (`<path>.<anything>`). */
  protectedPaths: readonly string[];
  symlinks: SymlinkPolicy;
  /** True when a descriptor's real path can be read back (Linux /proc). */
  verifiable: boolean;
  /** Folders kept open between requests (only used when `verifiable`). */
  folders?: FolderCache | undefined;
}

/** True when `/proc/self/fd/N` names what descriptor N has open, so the jail can verify descriptors. */
export async function canVerifyDescriptors(folder: string): Promise<boolean> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(folder, OPEN_FOLDER);
    const real = await readlink(`${FD_DIR}/${handle.fd}`);
    const again = await open(`${FD_DIR}/${handle.fd}/.`, OPEN_FOLDER);
    const same = (await again.stat()).ino === (await handle.stat()).ino;
    await again.close();
    return same && real.startsWith('/');
  } catch {
    return false;
  } finally {
    await handle?.close();
  }
}

export function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith('/') ? root : `${root}/`);
}

function isProtectedBy(guarded: string, real: string): boolean {
  return isInside(guarded, real) || real.startsWith(`${guarded}.`);
}

const outside = (path: readonly string[]): FerryError => ferryError('BAD_PATH', `${formatRemotePath(path)} goes through a link that leads outside your home`);
const refusedLink = (path: readonly string[]): FerryError =>
  ferryError('BAD_PATH', `${formatRemotePath(path)} goes through a symlink, and this server follows no symlinks in homes; ask its admin to replace the link`);
const specialFile = (path: readonly string[]): FerryError =>
  ferryError('BAD_PATH', `${formatRemotePath(path)} is a FIFO, socket or device, not a file or folder; Ferry serves only regular files and folders`);
const notFound = (path: readonly string[], cause?: unknown): FerryError => ferryError('NOT_FOUND', `${formatRemotePath(path)} does not exist`, cause);

/** A folder descriptor the cache holds, lent to any number of requests at once. */
interface HeldFolder {
  handle: FileHandle;
  leases: number;
  usedAt: number;
  /** Out of the cache: closed once the last lease ends. */
  dropped: boolean;
}

/**
 * Folders recently walked to, kept open by the path that named them, so that a burst
 * of requests in one folder (a thousand small uploads) does not open every folder on
 * the way and check it again for each file. A kept descriptor is the same folder
 * whatever happens to its path later, so it is lent out only after `readlink` of
 * `/proc/self/fd/N` still gives exactly the path it is kept under: a folder has one
 * name, so that proves the path names this folder now, with no symlink on the way
 * (a moved or deleted folder reads differently and is dropped). Every request
 * still checks its folder again immediately before it commits, renames or deletes.
 * Bounded in count, and a folder unused for `idleMs` is closed.
 */
export class FolderCache {
  private readonly held = new Map<string, HeldFolder>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly capacity = 64,
    private readonly idleMs = 2000,
  ) {}

  /** The folder kept under `key`, lent until `release`; undefined when none is kept. */
  lease(key: string): { handle: FileHandle; release: () => void } | undefined {
    const entry = this.held.get(key);
    if (!entry) return undefined;
    entry.leases++;
    entry.usedAt = Date.now();
    let released = false;
    return {
      handle: entry.handle,
      release: () => {
        if (released) return;
        released = true;
        entry.leases--;
        if (entry.dropped && entry.leases === 0) void entry.handle.close().catch(() => undefined);
      },
    };
  }

  /** Takes `handle` over under `key`; false (the caller keeps it) when a folder is kept there already. */
  keep(key: string, handle: FileHandle): boolean {
    // The kernel marks a deleted folder's path with this suffix: such a key could be taken for a deleted folder.
    if (this.held.has(key) || key.endsWith(' (deleted)')) return false;
    if (this.held.size >= this.capacity) {
      const oldest = this.held.keys().next().value;
      if (oldest !== undefined) this.drop(oldest);
    }
    this.held.set(key, { handle, leases: 0, usedAt: Date.now(), dropped: false });
    this.sweeper ??= setInterval(() => this.sweep(), this.idleMs).unref();
    return true;
  }

  /** Forgets the folder kept under `key` (if it is still `handle`, when given). */
  drop(key: string, handle?: FileHandle): void {
    const entry = this.held.get(key);
    if (!entry || (handle && entry.handle !== handle)) return;
    this.held.delete(key);
    entry.dropped = true;
    if (entry.leases === 0) void entry.handle.close().catch(() => undefined);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.held) if (entry.leases === 0 && now - entry.usedAt >= this.idleMs) this.drop(key);
    if (this.held.size === 0) this.clear();
  }

  /** Closes every kept folder (those lent out once their requests end). */
  clear(): void {
    for (const key of [...this.held.keys()]) this.drop(key);
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

/** An entry opened and checked: its descriptor, where it really is, and its fstat. */
export interface Opened {
  handle: FileHandle;
  real: string;
  stats: Stats;
}

/** A folder inside the home, held open: names in it are used through it, not through a path string. */
export class Folder {
  private closed = false;

  /**
   * `key` is where the folder is when reached by its path with no symlink on the
   * way (it may then be kept open for later requests); `release` ends a lease of a
   * kept folder instead of closing it.
   */
  constructor(
    private readonly jail: Jail,
    readonly handle: FileHandle,
    private location: string,
    private readonly key?: string,
    private readonly release?: () => void,
  ) {}

  /** Where the folder was when last checked (before its first check: where the walk expects it). */
  get real(): string {
    return this.location;
  }

  /** The folder itself, as a path that leads to this open folder. */
  self(): string {
    return this.jail.verifiable ? `${FD_DIR}/${this.handle.fd}` : this.location;
  }

  /** A name in this folder, as a path the kernel resolves from this open folder. */
  at(name: string): string {
    return this.jail.verifiable ? `${FD_DIR}/${this.handle.fd}/${name}` : join(this.location, name);
  }

  /** Refuses unless the folder is still inside the home: call immediately before acting in it. */
  async recheck(path: readonly string[]): Promise<void> {
    this.location = await this.jail.locate(this.handle, path, this.location);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.release) return this.release();
    if (this.key !== undefined && this.location === this.key && this.jail.keepOpen(this.key, this.handle)) return;
    await this.handle.close().catch(() => undefined);
  }
}

/** Where an entry goes or is: its folder (open, checked) and its name there. */
export interface Place {
  folder: Folder;
  name: string;
}

/** Where an entry is to be made: the deepest existing folder on its way (open, checked) and the folders missing below it. */
export interface Planned {
  folder: Folder;
  /** Folders to make, in order, below `folder`. */
  missing: readonly string[];
  name: string;
  path: readonly string[];
}

export class Jail {
  readonly root: string;
  readonly verifiable: boolean;
  private readonly protectedPaths: readonly string[];
  private readonly followLinks: boolean;
  private readonly folders: FolderCache | undefined;

  constructor(options: JailOptions) {
    this.root = options.root;
    this.verifiable = options.verifiable;
    this.protectedPaths = options.protectedPaths;
    this.followLinks = options.symlinks === 'inside' && options.verifiable;
    // Only a descriptor whose location can be read back can be trusted again later.
    this.folders = options.verifiable ? options.folders : undefined;
  }

  /** Hands a folder no longer used to the cache; false when it is not kept (the caller closes it). */
  keepOpen(key: string, handle: FileHandle): boolean {
    return this.folders?.keep(key, handle) ?? false;
  }

  /** Where the folder `path` is when no symlink is on the way: the key it is kept under. */
  private keyOf(path: readonly string[]): string {
    return join(this.root, ...path);
  }

  /**
   * The deepest folder on `path` kept open, with how many names of `path` it covers,
   * once checked: it must still be exactly where its path says, inside the home, not
   * protected. Anything else drops it, and the walk starts from the home.
   */
  private async cached(path: readonly string[]): Promise<{ folder: Folder; depth: number } | undefined> {
    if (!this.folders) return undefined;
    for (let depth = path.length; depth >= 0; depth--) {
      const key = this.keyOf(path.slice(0, depth));
      const lease = this.folders.lease(key);
      if (!lease) continue;
      const folder = new Folder(this, lease.handle, key, key, lease.release);
      const now = await readlink(`${FD_DIR}/${lease.handle.fd}`).catch(() => undefined);
      if (now === key && isInside(this.root, now) && !this.isProtected(now)) return { folder, depth };
      this.folders.drop(key, lease.handle);
      await folder.close();
      return undefined;
    }
    return undefined;
  }

  isProtected(real: string): boolean {
    return this.protectedPaths.some((guarded) => isProtectedBy(guarded, real));
  }

  /**
   * Where the open `handle` is now; refuses unless that is inside the home and
   * not protected. Without /proc, `expected` must still be the same object.
   */
  async locate(handle: FileHandle, path: readonly string[], expected: string): Promise<string> {
    let real: string;
    if (this.verifiable) {
      // A file replaced since it was opened still holds a whole version of it; the name shows where it was.
      real = (await readlink(`${FD_DIR}/${handle.fd}`)).replace(/ \(deleted\)$/, '');
    } else {
      const [held, named] = await Promise.all([handle.stat(), lstat(expected).catch(() => undefined)]);
      if (!named || held.dev !== named.dev || held.ino !== named.ino) {
        throw ferryError('BAD_PATH', `${formatRemotePath(path)} changed while in use; nothing was done, try again`);
      }
      real = expected;
    }
    if (!isInside(this.root, real)) {
      throw ferryError('BAD_PATH', `${formatRemotePath(path)} is no longer inside your home (it was moved or linked away); nothing was done`);
    }
    if (this.isProtected(real)) throw notFound(path);
    return real;
  }

  /** A regular file with more than one name may be a hard link to a protected file: compare identities. */
  private async refuseProtectedLinks(stats: Stats, path: readonly string[]): Promise<void> {
    if (!stats.isFile() || stats.nlink < 2) return;
    for (const guarded of this.protectedPaths) {
      const other = await lstat(guarded).catch(() => undefined);
      if (other && other.dev === stats.dev && other.ino === stats.ino) throw notFound(path);
    }
  }

  private async openRoot(path: readonly string[]): Promise<Folder> {
    const handle = await open(this.root, this.verifiable ? OPEN_FOLDER : OPEN_FOLDER | constants.O_NOFOLLOW);
    try {
      return new Folder(this, handle, await this.locate(handle, path.slice(0, 0), this.root), this.root);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /**
   * Opens `name` in `folder` (a symlink followed only under the `inside` policy)
   * and checks what was opened: inside the home, not protected, a regular file or
   * a folder. `path` names it in messages.
   */
  async openIn(folder: Folder, name: string, path: readonly string[], follow = true): Promise<Opened> {
    let handle: FileHandle;
    let followed = false;
    try {
      handle = await open(folder.at(name), OPEN_NOFOLLOW);
    } catch (error) {
      const code = systemErrorCode(error);
      if (code === 'ENXIO') throw specialFile(path); // A socket: it has nothing to open.
      if (code !== 'ELOOP' || !follow) throw error;
      handle = await this.followLink(folder, name, path);
      followed = true;
    }
    try {
      const real = await this.locate(handle, path, join(folder.real, name)).catch((error: unknown) => {
        throw followed && error instanceof FerryError && error.code === 'BAD_PATH' ? outside(path) : error;
      });
      const stats = await handle.stat();
      if (!stats.isFile() && !stats.isDirectory()) throw specialFile(path);
      await this.refuseProtectedLinks(stats, path);
      return { handle, real, stats };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Opens what the symlink `name` in `folder` leads to; `openIn` then checks where that is. */
  private async followLink(folder: Folder, name: string, path: readonly string[]): Promise<FileHandle> {
    if (!this.followLinks) throw refusedLink(path);
    try {
      return await open(folder.at(name), OPEN_FOLLOW);
    } catch (error) {
      const code = systemErrorCode(error);
      if (code === 'ENXIO') throw specialFile(path);
      if (code !== 'ENOENT') throw outside(path); // A loop and the like: not a usable way anywhere.
      // A dangling link: judged by where it points, without telling what is there.
      await folder.recheck(path.slice(0, -1));
      const target = resolve(folder.real, await readlink(folder.at(name)).catch(() => '/'));
      if (!isInside(this.root, target)) throw outside(path);
      throw notFound(path, error);
    }
  }

  /**
   * Opens the folder `path` one name at a time (from the deepest folder on it kept
   * open, if any); also returns the names at its end that do not exist. The folder
   * it ends at is not checked yet (`checked` false): callers check it, or what they
   * open in it, before they use either. A kept folder it ends at was just checked.
   */
  private async walk(path: readonly string[]): Promise<{ folder: Folder; missing: string[]; checked: boolean }> {
    const kept = await this.cached(path);
    if (kept?.depth === path.length) return { folder: kept.folder, missing: [], checked: true };
    let folder = kept?.folder ?? (await this.openRoot(path));
    try {
      for (const [index, name] of path.entries()) {
        if (index < (kept?.depth ?? 0)) continue;
        let next: Folder;
        try {
          next = await this.step(folder, name, path.slice(0, index + 1));
        } catch (error) {
          if (systemErrorCode(error) === 'ENOENT') return { folder, missing: path.slice(index), checked: false };
          throw error;
        }
        // Not awaited: nothing uses the folder behind any more, and the walk need not wait for its close.
        void folder.close();
        folder = next;
      }
      return { folder, missing: [], checked: false };
    } catch (error) {
      await folder.close();
      throw error;
    }
  }

  /**
   * The folder `name` in `folder`. A real folder opened by name from an open folder
   * needs no check of its own: it is checked with whatever is finally used below
   * it, which shows where the whole chain is. A symlink is checked at once, so that
   * nothing behind one that leads outside is even opened.
   */
  private async step(folder: Folder, name: string, here: readonly string[]): Promise<Folder> {
    // Without /proc the final check cannot see where the chain is: every step is checked.
    if (this.verifiable) {
      try {
        const handle = await open(folder.at(name), OPEN_NOFOLLOW | constants.O_DIRECTORY);
        return new Folder(this, handle, join(folder.real, name), this.keyOf(here));
      } catch (error) {
        if (systemErrorCode(error) !== 'ENOTDIR') throw error;
      }
    }
    // Not a plain folder: a symlink, a file or a special file, told apart by openIn.
    const opened = await this.openIn(folder, name, here);
    if (!opened.stats.isDirectory()) {
      await opened.handle.close();
      throw ferryError('NOT_A_DIRECTORY', `${formatRemotePath(here)} is a file, not a folder`);
    }
    return new Folder(this, opened.handle, opened.real);
  }

  /** Opens the existing folder `path`, checked. */
  async folder(path: readonly string[]): Promise<Folder> {
    const { folder, missing, checked } = await this.walk(path);
    try {
      if (missing.length > 0) throw notFound(path);
      if (!checked) await folder.recheck(path);
      return folder;
    } catch (error) {
      await folder.close();
      throw error;
    }
  }

  /** Opens the existing file or folder `path`, checked (the home itself for `[]`). */
  async open(path: readonly string[]): Promise<Opened> {
    if (path.length === 0) {
      const root = await this.openRoot(path);
      return { handle: root.handle, real: root.real, stats: await root.handle.stat() };
    }
    const { folder: parent, missing } = await this.walk(path.slice(0, -1));
    try {
      if (missing.length > 0) throw notFound(path);
      return await this.openIn(parent, path.at(-1) as string, path);
    } finally {
      await parent.close();
    }
  }

  /**
   * The folder an entry lives in (open, checked) and its literal name, so that
   * rename, delete and replace act on a symlink rather than on what it points to.
   * With `create`, missing folders on the way are made, within the tree limits.
   */
  async place(path: readonly string[], create = false): Promise<Place> {
    if (create) return this.build(await this.plan(path));
    const name = path.at(-1);
    if (name === undefined) throw homeFolderItself();
    const { folder, missing, checked } = await this.walk(path.slice(0, -1));
    try {
      if (missing.length > 0) throw notFound(path.slice(0, path.length - missing.length));
      if (!checked) await folder.recheck(path.slice(0, -1));
      this.refuseKeptName(folder, [name], path);
      return { folder, name };
    } catch (error) {
      await folder.close();
      throw error;
    }
  }

  /**
   * Where an entry is about to be made, with nothing made yet: the deepest folder on
   * its way that exists (open, checked), the folders still missing below it, and
   * its name, within the tree limits. `build` makes the missing folders once the
   * caller commits to the entry, so a refused request leaves nothing behind.
   */
  async plan(path: readonly string[]): Promise<Planned> {
    const name = path.at(-1);
    if (name === undefined) throw homeFolderItself();
    this.refuseBeyondLimits(path);
    const { folder, missing, checked } = await this.walk(path.slice(0, -1));
    try {
      if (!checked) await folder.recheck(path.slice(0, path.length - 1 - missing.length));
      this.refuseKeptName(folder, [...missing, name], path);
      return { folder, missing, name, path };
    } catch (error) {
      await folder.close();
      throw error;
    }
  }

  /**
   * Makes the folders `planned` found missing, each one through the open folder
   * above it (never by a path string), and returns the entry's place, its folder
   * checked again. The planned folder is taken over: closed here on failure, and
   * with the place otherwise (the same folder when nothing was missing).
   */
  async build(planned: Planned): Promise<Place> {
    const { path, missing, name } = planned;
    const base = path.length - 1 - missing.length;
    let folder = planned.folder;
    try {
      for (const [index, segment] of missing.entries()) {
        // Time may have passed since the plan: the folder is checked again before anything is made in it.
        await folder.recheck(path.slice(0, base + index));
        await mkdir(folder.at(segment)).catch((error: unknown) => {
          if (systemErrorCode(error) !== 'EEXIST') throw error;
        });
        const next = await this.step(folder, segment, path.slice(0, base + index + 1));
        await folder.close();
        folder = next;
      }
      await folder.recheck(path.slice(0, -1));
      this.refuseKeptName(folder, [name], path);
      return { folder, name };
    } catch (error) {
      await folder.close();
      throw error;
    }
  }

  /** Refuses the entry at `names` below `folder` when it is a name the server keeps for itself. */
  private refuseKeptName(folder: Folder, names: readonly string[], path: readonly string[]): void {
    if (this.isProtected(join(folder.real, ...names))) {
      throw ferryError('BAD_PATH', `${formatRemotePath(path)} is a name the server keeps for itself; choose another`);
    }
  }

  /** Refuses a path (with a tree of `below` under it) past the depth or length the server keeps to. */
  refuseBeyondLimits(path: readonly string[], below: TreeExtent = { depth: 0, bytes: 0 }): void {
    refuseBeyondLimits(path, below, Buffer.byteLength(this.root, 'utf8'), MAX_DISK_PATH_BYTES);
  }

  /**
   * The names in `folder` with their lstat (a followed symlink: what it leads to,
   * checked), leaving out what cannot be served: special files, protected paths,
   * links that lead outside or nowhere, and entries that vanish meanwhile.
   */
  async *entries(folder: Folder, path: readonly string[]): AsyncGenerator<{ name: string; stats: Stats; link: boolean }> {
    const dir = await opendir(folder.self(), { bufferSize: 256 });
    for await (const dirent of dir) {
      const name = dirent.name;
      if (!isNameable(name) || this.isProtected(join(folder.real, name))) continue;
      let stats = await lstat(folder.at(name)).catch(() => undefined);
      const link = stats?.isSymbolicLink() ?? false;
      if (link) {
        if (!this.followLinks) continue;
        stats = await this.openIn(folder, name, [...path, name]).then(
          async (opened) => {
            await opened.handle.close();
            return opened.stats;
          },
          () => undefined,
        );
      }
      if (!stats || (!stats.isFile() && !stats.isDirectory())) continue;
      if (stats.nlink > 1 && (await this.refuseProtectedLinks(stats, path).then(() => false, () => true))) continue;
      yield { name, stats, link };
    }
  }

  /** Opens the real folder `name` in `folder` (never through a symlink), for a walk down a tree. */
  async child(folder: Folder, name: string, path: readonly string[]): Promise<Folder | undefined> {
    // lstat first, so that a FIFO or device is never opened; a swap after it shows in what openIn finds.
    if (!(await lstat(folder.at(name)).catch(() => undefined))?.isDirectory()) return undefined;
    try {
      const opened = await this.openIn(folder, name, path, false);
      if (opened.stats.isDirectory()) return new Folder(this, opened.handle, opened.real);
      await opened.handle.close();
    } catch (error) {
      // Deleted, or replaced by a link, while the walk came to it: nothing to walk into.
      const code = systemErrorCode(error);
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ELOOP') throw error;
    }
    return undefined;
  }

  /** How far the folder `name` in `folder` reaches, measured up to the limits (and a level past them). */
  async extent(folder: Folder, name: string, path: readonly string[]): Promise<TreeExtent> {
    const top = await this.child(folder, name, path);
    if (!top) return { depth: 0, bytes: 0 };
    const reach = { depth: 0, bytes: 0 };
    const visit = async (at: Folder, depth: number, bytes: number): Promise<void> => {
      try {
        for (const dirent of await readdir(at.self(), { withFileTypes: true })) {
          const size = bytes + 1 + Buffer.byteLength(dirent.name, 'utf8');
          reach.bytes = Math.max(reach.bytes, size);
          reach.depth = Math.max(reach.depth, depth);
          if (depth > MAX_TREE_DEPTH || size > MAX_DISK_PATH_BYTES) return;
          // Only folders reach further; the type from the folder listing spares an lstat per file.
          if (!dirent.isDirectory()) continue;
          const below = await this.child(at, dirent.name, path);
          if (below) await visit(below, depth + 1, size);
        }
      } finally {
        await at.close();
      }
    };
    await visit(top, 1, 0);
    return reach;
  }

  /**
   * Deletes `name` in `folder` and, when it is a real folder, everything below it,
   * one open folder per level; every unlink is preceded by a check of the folder it
   * happens in. A tree deeper than the limits is removed down to them, and then
   * the removal stops and says so.
   */
  async removeTree(folder: Folder, name: string, path: readonly string[]): Promise<void> {
    if (path.length > MAX_TREE_DEPTH + 1 || Buffer.byteLength(formatRemotePath(path), 'utf8') > MAX_PATH_BYTES) {
      throw stoppedTooDeep(path.slice(0, -1), 'the removal');
    }
    const below = await this.child(folder, name, path);
    if (below) {
      try {
        for (const nameBelow of await readdir(below.self())) {
          // Gone already (another delete got there first): what was asked for is done.
          await this.removeTree(below, nameBelow, [...path, nameBelow]).catch((error: unknown) => {
            if (systemErrorCode(error) !== 'ENOENT') throw error;
          });
        }
      } finally {
        await below.close();
      }
    }
    await folder.recheck(path.slice(0, -1));
    if (below) await rmdir(folder.at(name));
    else await unlink(folder.at(name));
  }
}
