/**
 * The SHA-256 of objects stored without one in their metadata (by other tools,
 * or too large for the copy that adds it): computed once by reading the object,
 * then kept by key and ETag, since a new ETag is new bytes under the same key.
 */

import { createHash } from 'node:crypto';
import { DigestCache } from '../digest-cache.js';
import type { RemotePath } from '../storage.js';
import type { Bucket } from './client.js';
import { objectBytes, type ObjectInfo } from './objects.js';

/** One version of an object's bytes. */
interface ObjectVersion {
  key: string;
  etag: string;
}

/** Digests by object version, unlike local disk's by file identity. */
export type ObjectDigestCache = DigestCache<ObjectVersion>;

export function objectDigestCache(): ObjectDigestCache {
  return new DigestCache(({ key, etag }) => `${key}\0${etag}`);
}

/** The object's SHA-256: from its metadata, from the cache, or by reading it. */
export async function objectDigest(context: Bucket & { digests: ObjectDigestCache }, path: RemotePath, key: string, info: ObjectInfo): Promise<string> {
  if (info.sha256 !== undefined) return info.sha256;
  const version = { key, etag: info.etag };
  const known = context.digests.get(version);
  if (known !== undefined) return known;
  const hash = createHash('sha256');
  for await (const chunk of objectBytes(context, path, key, info.etag, 0, info.size)) hash.update(chunk);
  const digest = hash.digest('hex');
  context.digests.set(version, digest);
  return digest;
}
