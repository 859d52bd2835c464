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
 *
 * This file is the jail's checks and its one way down a path; whole-tree walks
 * (./jail.ts) are built on it. It is kept whole although longer than most files:
 * every way into the home is in this one class, so it is read and reviewed as one.
 */

import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readlink, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ferryError, FerryError, systemErrorCode } from '../../../protocol/errors.js';
import { formatRemotePath } from '../../../protocol/paths.js';
import { homeFolderItself } from '../../refusals.js';
import { MAX_DISK_PATH_BYTES, refuseBeyondLimits, type TreeExtent } from '../../tree-limits.js';
import { FD_DIR, isInside, isProtectedBy, OPEN_FOLDER, OPEN_FOLLOW, OPEN_NOFOLLOW } from './descriptors.js';
import type { FolderCache } from './folder-cache.js';
import { Folder, type Opened, type Place, type Planned } from './folder.js';
import { notFound, outside, refusedLink, specialFile } from './refusals.js';

/** Whether symlinks in a home are followed (when they lead inside it) or refused outright. */
export type SymlinkPolicy = 'inside' | 'refuse';

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

export class JailCore {
  readonly root: string;
  readonly verifiable: boolean;
  private readonly protectedPaths: readonly string[];
  protected readonly followLinks: boolean;
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
  protected async refuseProtectedLinks(stats: Stats, path: readonly string[]): Promise<void> {
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
}
