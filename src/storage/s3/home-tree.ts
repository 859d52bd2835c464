/**
 * What the keys under one home name, as a file system would answer: whether a
 * path is a file or a folder, which folders on the way are missing, and the
 * refusals a file system makes (a path through a file, past the tree limits, too
 * long for the store).
 */

import { ferryError } from '../../protocol/errors.js';
import { formatRemotePath } from '../../protocol/paths.js';
import type { HomeLimits } from '../quota.js';
import type { RemotePath } from '../storage.js';
import { NO_EXTENT, refuseBeyondLimits, type TreeExtent } from '../tree-limits.js';
import type { S3Context } from './client.js';
import { checkedKey } from './keys.js';
import { S3_MAX_KEY_BYTES } from './limits.js';
import { listPages } from './listing.js';
import { headObject, type ObjectInfo } from './objects.js';

/** What a path names: a file (its HEAD), a folder, or (neither) nothing. */
export interface PathKind {
  file?: ObjectInfo;
  folder: boolean;
}

export class HomeTree {
  constructor(
    readonly context: S3Context,
    /** Key prefix of the home, ending in '/'. */
    readonly root: string,
    readonly limits: HomeLimits,
  ) {}

  fileKey(path: RemotePath): string {
    return checkedKey(this.root, path);
  }

  /** The same depth limit as on local disk; the key's own length is checked by fileKey. */
  refuseBeyondLimits(path: RemotePath, below: TreeExtent = NO_EXTENT): void {
    refuseBeyondLimits(path, below, Buffer.byteLength(this.root), S3_MAX_KEY_BYTES - 1);
  }

  folderPrefix(path: RemotePath): string {
    return path.length === 0 ? this.root : `${this.fileKey(path)}/`;
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return headObject(this.context.client, this.context.bucket, key);
  }

  /** A folder exists when anything lies under its prefix (its marker included). */
  async folderExists(path: RemotePath): Promise<boolean> {
    if (path.length === 0) return true;
    for await (const page of listPages(this.context, this.folderPrefix(path), undefined, 1)) return page.objects.length > 0;
    return false;
  }

  /** Refuses a path that goes through a file (e.g. a/b when a is a file), as a file system would. */
  async checkParents(path: RemotePath): Promise<void> {
    const parents = path.slice(0, -1).map((_, index) => path.slice(0, index + 1));
    const found = await Promise.all(parents.map((parent) => this.head(this.fileKey(parent))));
    const file = found.findIndex((info) => info !== undefined);
    if (file >= 0) throw ferryError('NOT_A_DIRECTORY', `${formatRemotePath(parents[file] as RemotePath)} is a file, not a folder`);
  }

  /** Whether `path` names a file or a folder (a file wins if, made by other tools, both exist). */
  async kind(path: RemotePath): Promise<PathKind> {
    if (path.length === 0) return { folder: true };
    const file = await this.head(this.fileKey(path));
    return file ? { file, folder: false } : { folder: await this.folderExists(path) };
  }

  /** How many of the folders leading to `path` do not exist yet (counted only when the home has an entry limit). */
  async missingFolders(path: RemotePath): Promise<number> {
    if (this.limits.entries === 0) return 0;
    const found = await Promise.all(path.map((_, index) => this.folderExists(path.slice(0, index + 1))));
    return found.filter((exists) => !exists).length;
  }
}
