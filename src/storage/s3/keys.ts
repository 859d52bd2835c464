/**
 * Where everything lies in the bucket. Layout under the configured key prefix:
 *
 *   files/<home>/<path>   a file; its SHA-256 and modification time in the metadata
 *                         (x-amz-meta-sha256, x-amz-meta-mtime)
 *   files/<home>/<dir>/   an (empty) object marking a folder made with mkdir
 *   uploads/<id>.json     the record of a resumable upload (see records.ts)
 *   ready/<host>          written by readiness checks
 *
 * A folder exists while it holds anything or has its marker. Keys are built from
 * checked path segments only (protocol/paths.ts), so nothing a user names can reach
 * outside `files/<home>/`; there are no links to follow in an object store.
 */

import { ferryError } from '../../protocol/errors.js';
import { formatRemotePath, isNameable } from '../../protocol/paths.js';
import type { RemotePath } from '../storage.js';
import { S3_MAX_KEY_BYTES } from './limits.js';

/** The configured key prefix as a folder: '' or ending in '/'. */
export function keyPrefix(configured: string): string {
  return configured === '' || configured.endsWith('/') ? configured : `${configured}/`;
}

/** Where the files of every home lie. */
export function filesPrefix(prefix: string): string {
  return `${prefix}files/`;
}

/** Where the records of resumable uploads lie. */
export function uploadsPrefix(prefix: string): string {
  return `${prefix}uploads/`;
}

/** Written by readiness checks: one key per host name, overwritten each time (restarts leave nothing behind). */
export function readyKey(prefix: string, host: string): string {
  return `${prefix}ready/${host}`;
}

/** Key prefix of a home (always ending in '/', so that no home's keys start with another's). */
export function homeRoot(filesPrefix: string, home: RemotePath): string {
  return home.length === 0 ? filesPrefix : `${filesPrefix}${home.join('/')}/`;
}

/** The key of a path inside a home; checked segments hold no '/', so keys and paths map one to one. */
export function objectKey(root: string, path: RemotePath): string {
  return root + path.join('/');
}

/** The key of a path inside a home, refused when the store could not take it (a folder's marker adds a '/'). */
export function checkedKey(root: string, path: RemotePath): string {
  const key = objectKey(root, path);
  if (Buffer.byteLength(key) > S3_MAX_KEY_BYTES - 1) throw ferryError('BAD_PATH', `${formatRemotePath(path)} is too long for the server's object store`);
  return key;
}

/** A listed key's path below a folder prefix, or undefined for a key no Ferry path can name. */
export function relativeSegments(key: string, prefix: string): string[] | undefined {
  const segments = key.slice(prefix.length).split('/');
  const named = key.endsWith('/') ? segments.slice(0, -1) : segments;
  if (named.length === 0 || !named.every(isNameable)) return undefined;
  return named;
}
