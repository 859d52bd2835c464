/** The digest cache of local disk, where one version of a file is its identity on disk. */

import type { Stats } from 'node:fs';
import { DigestCache } from '../digest-cache.js';

/** Digests by file identity (device, inode, size, time), unlike an object store's by key and ETag. */
export type FileDigestCache = DigestCache<Stats>;

export function fileDigestCache(): FileDigestCache {
  return new DigestCache((stats) => `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`);
}
