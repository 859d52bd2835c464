/**
 * Refusals every backend makes alike, in the same words: a request refused on
 * local disk reads the same as on an object store.
 */

import { ferryError, type FerryError } from '../protocol/errors.js';
import { formatRemotePath } from '../protocol/paths.js';
import type { RemotePath } from './storage.js';

/** The home itself cannot be uploaded over, removed, moved or made. */
export function homeFolderItself(): FerryError {
  return ferryError('BAD_PATH', 'that cannot be done to your home folder itself');
}

/** Refuses the empty path (the home itself) for an operation on something inside the home. */
export function refuseHomeItself(path: RemotePath): void {
  if (path.length === 0) throw homeFolderItself();
}

/** An upload with no-clobber met a file already there. */
export function existsNoClobber(path: RemotePath): FerryError {
  return ferryError('EXISTS', `${formatRemotePath(path)} already exists and no-clobber was asked for`);
}
