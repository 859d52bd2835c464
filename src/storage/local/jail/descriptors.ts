/**
 * What the jail knows of descriptors and real paths: how names are opened (never
 * waiting on a FIFO or device), whether `/proc/self/fd` can tell where a descriptor
 * is, and when one real path lies inside (or is protected by) another.
 */

import { constants } from 'node:fs';
import { open, readlink, type FileHandle } from 'node:fs/promises';

export const FD_DIR = '/proc/self/fd';
/** Opens any entry without following a final symlink and without waiting on a FIFO or device. */
export const OPEN_NOFOLLOW = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;
export const OPEN_FOLLOW = constants.O_RDONLY | constants.O_NONBLOCK;
export const OPEN_FOLDER = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_DIRECTORY;

/** True when `/proc/self/fd/N` names what descriptor N has open, so the jail can verify descriptors. */
export async function canVerifyDescriptors(folder: string): Promise<boolean> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(folder, OPEN_FOLDER);
    const real = await readlink(`${FD_DIR}/${handle.fd}`);
    const again = await open(`${FD_DIR}/${handle.fd}/.`, OPEN_FOLDER);
    const same = (await again.stat()).ino === (await handle.stat()).ino;
    await again.close();
    return same && real.startsWith('/');
  } catch {
    return false;
  } finally {
    await handle?.close();
  }
}

export function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith('/') ? root : `${root}/`);
}

export function isProtectedBy(guarded: string, real: string): boolean {
  return isInside(guarded, real) || real.startsWith(`${guarded}.`);
}
