/** Makes a folder's entries (a rename into it, say) durable: on Linux, a file's fsync does not cover the name it was given. */

import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
