/**
 * Names the server sends are not trusted. A listing, a recursive download or a
 * stat answer could name `../../.bashrc` or `/etc/cron.d/x`: every name is checked
 * with the rules the server applies to paths (src/protocol/paths.ts) and must be
 * in the one plain spelling a real server sends (relative, no `.` or empty
 * segments), and a local path made from it must stay inside its destination
 * folder on this platform's file system. Pure, so each platform's rules are
 * tested on any platform.
 */

import { posix, win32 } from 'node:path';
import { type FerryError, ferryError } from '../protocol/errors.js';
import { parseRemotePath } from '../protocol/paths.js';

/** How a name is shown in a message: quoted, with control characters escaped. */
function shown(name: string): string {
  return JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}...` : name);
}

function hostile(name: string, why: string): FerryError {
  return ferryError('UNSAFE_NAME', `the server sent the name ${shown(name)}, which ${why}; nothing was written for it. A server that sends such names is broken or hostile: tell its operator`);
}

/**
 * The segments of a path below a listed folder, as a recursive listing names its
 * entries (`a/b/c.txt`). Throws UNSAFE_NAME for anything else.
 */
export function receivedRelativePath(name: string): string[] {
  let segments: string[];
  try {
    segments = parseRemotePath(name);
  } catch (error) {
    throw hostile(name, `breaks the path rules (${(error as Error).message})`);
  }
  if (segments.length === 0 || segments.join('/') !== name) {
    throw hostile(name, 'is not a plain relative path (it is absolute, empty, or has "." or empty parts)');
  }
  return segments;
}

/** A single name, as a listing of one folder gives its entries. */
export function receivedName(name: string): string {
  const segments = receivedRelativePath(name);
  if (segments.length !== 1) throw hostile(name, 'holds a "/" where one name was expected');
  return name;
}

/** The name in a stat answer: one name, or `/` for the home itself. */
export function receivedStatName(name: string): string {
  return name === '/' ? name : receivedName(name);
}

/**
 * Where `segments` (already checked names) land below `dest`, on `platform`'s file
 * system. The last guard before a write: it fails rather than return a path that
 * is not strictly inside `dest`.
 */
export function localPathInside(dest: string, segments: readonly string[], platform: NodeJS.Platform = process.platform): string {
  const path = platform === 'win32' ? win32 : posix;
  const local = path.join(dest, ...segments);
  const relative = path.relative(path.join(dest), local);
  const inside = relative !== '' && relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
  // On Windows `a/b` inside one name becomes two: the segments must stay as many as given.
  if (!inside || relative.split(path.sep).length !== segments.length) {
    throw hostile(segments.join('/'), `would land outside ${dest}`);
  }
  return local;
}
