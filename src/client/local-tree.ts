/**
 * Walking a local folder for sending: its files and folders with their sizes and
 * times, leaving out what the excludes name. Symbolic links are skipped with a
 * notice unless they are to be followed; followed, a link back to a folder that
 * is already being walked is skipped too, so a loop ends.
 */

import { lstat, opendir, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { FerryError, ferryError, systemErrorCode } from '../protocol/errors.js';
import { type Excludes, NO_EXCLUDES } from './excludes.js';

/** Local stats in flight while walking a folder. */
const STAT_WINDOW = 32;

interface LocalEntry {
  /** Path below the top, `/`-separated ('' for the top itself). */
  relative: string;
  local: string;
  type: 'file' | 'dir';
  size: number;
  mtime: number;
}

export interface WalkOptions {
  excludes?: Excludes;
  followSymlinks?: boolean;
  /** Read `.ferryignore` files (the default); off where the folder receives rather than sends. */
  ignoreFiles?: boolean;
}

export interface LocalTree {
  /** Folders (the top first, parents before their contents) and files. */
  entries: LocalEntry[];
  /** What was passed over and why (links not followed, loops), for the user to read. */
  notices: string[];
  /** Folders that could not be read: the rest of the tree was still walked. */
  failures: { local: string; relative: string; error: FerryError }[];
  /** The rules in force inside each folder walked (by relative path), `.ferryignore` files included. */
  rules: Map<string, Excludes>;
}

/** Runs `work` over `items` with at most `window` in flight, keeping order of results. */
export async function inWindow<T, R>(items: readonly T[], window: number, work: (item: T) => Promise<R>): Promise<R[]> {
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

function unreadable(error: unknown, path: string): FerryError {
  const code = systemErrorCode(error);
  if (code === 'EACCES' || code === 'EPERM') return ferryError('PERMISSION_DENIED', `cannot read ${path} (permission denied); check its permissions, or leave it out`, error);
  if (code === 'ENOENT') return ferryError('NOT_FOUND', `${path} does not exist on this computer`, error);
  return ferryError('LOCAL_IO', `${path}: ${(error as Error).message}`, error);
}

const identity = (stats: Stats): string => `${stats.dev}:${stats.ino}`;

/** Walks the local folder `top`. */
export async function walkLocalTree(top: string, options: WalkOptions = {}): Promise<LocalTree> {
  const tree: LocalTree = { entries: [], notices: [], failures: [], rules: new Map() };
  const follow = options.followSymlinks ?? false;
  const topStats = await stat(top);
  if (!topStats.isDirectory()) throw ferryError('NOT_A_DIRECTORY', `${top} is a file, not a folder`);
  const visit = async (dir: string, relative: string, stats: Stats, excludes: Excludes, ancestors: ReadonlySet<string>): Promise<void> => {
    tree.entries.push({ relative, local: dir, type: 'dir', size: 0, mtime: stats.mtimeMs });
    let here: Excludes;
    const names: string[] = [];
    try {
      for await (const dirent of await opendir(dir)) names.push(dirent.name);
      here = options.ignoreFiles === false ? excludes : await excludes.within(dir, relative);
      tree.rules.set(relative, here);
    } catch (error) {
      // One folder that cannot be read is reported; the rest of the tree still goes.
      tree.failures.push({ local: dir, relative, error: error instanceof FerryError ? error : unreadable(error, dir) });
      return;
    }
    names.sort();
    // One folder's entries are looked at together (their stats overlap in the thread pool), then walked in order.
    const found = await inWindow(names, STAT_WINDOW, async (name) => {
      const path = join(dir, name);
      const own = await lstat(path).catch(() => undefined);
      if (own?.isSymbolicLink() !== true) return { own, target: own };
      return { own, target: follow ? await stat(path).catch(() => undefined) : undefined };
    });
    const inside = new Set([...ancestors, identity(stats)]);
    for (const [index, name] of names.entries()) {
      const path = join(dir, name);
      const below = relative === '' ? name : `${relative}/${name}`;
      const { own, target } = found[index] as { own: Stats | undefined; target: Stats | undefined };
      if (own === undefined) continue; // Gone since the listing.
      if (here.excludes(below, (target ?? own).isDirectory())) continue;
      if (own.isSymbolicLink()) {
        if (!follow) {
          tree.notices.push(`${path} is a symbolic link: skipped (--follow-symlinks sends what it points to)`);
          continue;
        }
        if (target === undefined) {
          tree.notices.push(`${path} is a symbolic link to nothing: skipped`);
          continue;
        }
      }
      const real = target as Stats;
      if (real.isDirectory()) {
        if (inside.has(identity(real))) {
          tree.notices.push(`${path} leads back into a folder being sent: skipped, so the walk ends`);
          continue;
        }
        await visit(path, below, real, here, inside);
      } else if (real.isFile()) {
        tree.entries.push({ relative: below, local: path, type: 'file', size: real.size, mtime: real.mtimeMs });
      }
    }
  };
  await visit(top, '', topStats, options.excludes ?? NO_EXCLUDES, new Set());
  return tree;
}
