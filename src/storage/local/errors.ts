/** How a failed file system call on local disk reads to the user. */

import { ferryError, systemErrorCode, FerryError } from '../../protocol/errors.js';
import { formatRemotePath } from '../../protocol/paths.js';
import type { RemotePath } from '../storage.js';

/** Maps a failed fs call to the error the user should see. */
export function storageError(error: unknown, path: RemotePath): FerryError {
  if (error instanceof FerryError) return error;
  const where = formatRemotePath(path);
  switch (systemErrorCode(error)) {
    case 'ENOENT':
      return ferryError('NOT_FOUND', `${where} does not exist`, error);
    case 'EEXIST':
      return ferryError('EXISTS', `${where} already exists`, error);
    case 'ENOTDIR':
      return ferryError('NOT_A_DIRECTORY', `a part of ${where} is a file, not a folder`, error);
    case 'EISDIR':
      return ferryError('IS_A_DIRECTORY', `${where} is a folder`, error);
    case 'ENOTEMPTY':
      return ferryError('NOT_EMPTY', `${where} is not empty; remove it recursively`, error);
    case 'ENOSPC':
    case 'EDQUOT':
      return ferryError('NO_SPACE', 'the server ran out of disk space; free some space on the server and try again', error);
    case 'ENAMETOOLONG':
      return ferryError('BAD_PATH', `${where} is too long for the server's file system`, error);
    case 'ELOOP':
      return ferryError('BAD_PATH', `${where} goes through a loop of links`, error);
    case 'EACCES':
    case 'EPERM':
      return ferryError('PERMISSION_DENIED', `the server's file system refuses access to ${where}`, error);
    default:
      // The fs message names server paths: it goes to the log (as the cause), not to the client.
      return ferryError('INTERNAL', `storage failed on ${where}; the server log has the details`, error);
  }
}
