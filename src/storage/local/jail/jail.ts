/**
 * The jail with its walks over whole trees: listing a folder's entries, walking
 * into subfolders, measuring how far a tree reaches, and removing one; each level
 * through an open folder checked by the jail's core (./core.ts).
 */

import type { Stats } from 'node:fs';
import { lstat, opendir, readdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { systemErrorCode } from '../../../protocol/errors.js';
import { formatRemotePath, isNameable, MAX_PATH_BYTES } from '../../../protocol/paths.js';
import { MAX_DISK_PATH_BYTES, MAX_TREE_DEPTH, stoppedTooDeep, type TreeExtent } from '../../tree-limits.js';
import { JailCore } from './core.js';
import { Folder } from './folder.js';

export class Jail extends JailCore {
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
