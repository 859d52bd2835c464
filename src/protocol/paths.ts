/**
 * Remote paths: `/`-separated, relative to the user's home. Pure: no I/O.
 *
 * A remote path is split into segments and every segment is checked, so that no
 * spelling of a path can name anything outside the home: `..` is refused rather
 * than resolved, and so are NUL, control characters and backslashes (a Windows
 * separator that would otherwise become part of a name). A leading `/` means the
 * home itself, like a chroot. Symlinks are the storage's concern.
 */

import { ferryError } from './errors.js';

export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;

// Control characters C0, DEL and C1.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Splits a remote path into checked segments; `[]` is the home itself. */
export function parseRemotePath(input: string): string[] {
  if (Buffer.byteLength(input, 'utf8') > MAX_PATH_BYTES) {
    throw ferryError('BAD_PATH', `the path is longer than ${MAX_PATH_BYTES} bytes`);
  }
  if (input.includes('\u0000')) throw ferryError('BAD_PATH', 'the path contains a NUL character');
  if (CONTROL.test(input)) throw ferryError('BAD_PATH', 'the path contains a control character');
  if (input.includes('\\')) {
    throw ferryError('BAD_PATH', `"${input}" contains a backslash; remote paths use "/" between folders`);
  }
  const segments: string[] = [];
  for (const segment of input.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw ferryError('BAD_PATH', `"${input}" climbs out with ".."; name the path from your home`);
    if (Buffer.byteLength(segment, 'utf8') > MAX_NAME_BYTES) {
      throw ferryError('BAD_PATH', `the name "${segment.slice(0, 40)}..." is longer than ${MAX_NAME_BYTES} bytes`);
    }
    if (!segment.isWellFormed()) {
      throw ferryError('BAD_PATH', 'the path is not valid Unicode');
    }
    segments.push(segment);
  }
  return segments;
}

/** The canonical spelling of a remote path: `/a/b`, or `/` for the home. */
export function formatRemotePath(segments: readonly string[]): string {
  return `/${segments.join('/')}`;
}

/** Joins remote path pieces with `/`, without checking them. */
export function joinRemote(...parts: string[]): string {
  return parts.filter((part) => part !== '').join('/').replace(/\/{2,}/g, '/');
}

/** The last segment of a remote path, or '' for the home. */
export function remoteBaseName(path: string): string {
  const segments = path.split('/').filter((s) => s !== '' && s !== '.');
  return segments.at(-1) ?? '';
}
