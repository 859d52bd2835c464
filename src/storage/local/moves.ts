/** Moves that keep whatever already has the new name (no-clobber), without a race. */

import { link, mkdir, rename, rmdir, unlink } from 'node:fs/promises';

/**
 * Moves a file (or symlink) only if nothing has the new name: link() refuses an
 * existing name atomically, where a check followed by rename() would race.
 */
export async function moveNoClobber(from: string, to: string): Promise<void> {
  await link(from, to);
  try {
    await unlink(from);
  } catch (error) {
    // Another move took the old name first: the file is where that one put it.
    await unlink(to).catch(() => undefined);
    throw error;
  }
}

/**
 * Moves a folder only if nothing has the new name: claiming the name with mkdir
 * is atomic, and rename() replaces that empty folder in one step.
 */
export async function moveFolderNoClobber(from: string, to: string): Promise<void> {
  await mkdir(to);
  try {
    await rename(from, to);
  } catch (error) {
    await rmdir(to).catch(() => undefined);
    throw error;
  }
}
