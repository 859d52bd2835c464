/** The jail's refusals, in the words the user sees. */

import { ferryError, type FerryError } from '../../../protocol/errors.js';
import { formatRemotePath } from '../../../protocol/paths.js';

export const outside = (path: readonly string[]): FerryError => ferryError('BAD_PATH', `${formatRemotePath(path)} goes through a link that leads outside your home`);
export const refusedLink = (path: readonly string[]): FerryError =>
  ferryError('BAD_PATH', `${formatRemotePath(path)} goes through a symlink, and this server follows no symlinks in homes; ask its admin to replace the link`);
export const specialFile = (path: readonly string[]): FerryError =>
  ferryError('BAD_PATH', `${formatRemotePath(path)} is a FIFO, socket or device, not a file or folder; Ferry serves only regular files and folders`);
export const notFound = (path: readonly string[], cause?: unknown): FerryError => ferryError('NOT_FOUND', `${formatRemotePath(path)} does not exist`, cause);
