/**
 * Remote paths: `/`-separated, relative to the user's home. Pure: no I/O.
 *
 * A remote path is split into segments and every segment is checked, so that no
 * spelling of a path can name anything outside the home: `..` is refused rather
 * than resolved, and so are NUL, control characters and backslashes (a Windows
 * separator that would otherwise become part of a name). A leading `/` means the
 * home itself, like a chroot. Symlinks are the storage's concern.
 *
 * Names that would show as something they are not are refused too: bidirectional
 * embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) can make
 * "invoice\u202Efdp.exe" display as "invoiceexe.pdf", and the line and paragraph
 * separators (U+2028, U+2029) break one name over two lines of a listing.
 *
 * Unicode normalisation: names are kept exactly as sent, byte for byte, as Linux
 * file systems and S3 keep them; nothing is normalised. "é" as one code point (NFC)
 * and as "e" plus a combining accent (NFD) are two different names, each listed,
 * fetched and deleted by its own spelling, so a name always round-trips to the
 * spelling its sender used and a sync compares names without surprises.
 */

import { ferryError } from './errors.js';

export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;

// Control characters C0, DEL and C1.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// Bidirectional embeddings, overrides and isolates; line and paragraph separators.
const DECEPTIVE = /[\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

/** Splits a remote path into checked segments; `[]` is the home itself. */
export function parseRemotePath(input: string): string[] {
  if (Buffer.byteLength(input, 'utf8') > MAX_PATH_BYTES) {
    throw ferryError('BAD_PATH', `the path is longer than ${MAX_PATH_BYTES} bytes`);
  }
  if (input.includes('\u0000')) throw ferryError('BAD_PATH', 'the path contains a NUL character');
  if (CONTROL.test(input)) throw ferryError('BAD_PATH', 'the path contains a control character');
  if (DECEPTIVE.test(input)) {
    throw ferryError('BAD_PATH', 'the path contains a bidirectional-override or line-separator character, which would make it display as another name; rename it without them');
  }
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

/** True when `name` is a single segment that a request could name as it is: what a listing may show. */
export function isNameable(name: string): boolean {
  try {
    const segments = parseRemotePath(name);
    return segments.length === 1 && segments[0] === name;
  } catch {
    return false;
  }
}
