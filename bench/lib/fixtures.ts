/** The files the workloads move, made once per bench run from random bytes, with their digests. */

import { randomFillSync } from 'node:crypto';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestTree } from './digests.js';

const CHUNK_BYTES = 1024 * 1024;

export async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const handle = await open(path, 'w');
  try {
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    for (let written = 0; written < bytes; written += CHUNK_BYTES) {
      const length = Math.min(CHUNK_BYTES, bytes - written);
      randomFillSync(chunk, 0, length);
      await handle.write(chunk, 0, length);
    }
  } finally {
    await handle.close();
  }
}

export async function writeRandomFolder(dir: string, files: number, bytesEach: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const width = String(files - 1).length;
  for (let i = 0; i < files; i++) {
    await writeFile(join(dir, `file-${String(i).padStart(width, '0')}.bin`), randomFillSync(Buffer.allocUnsafe(bytesEach)));
  }
}

/** A file or folder to transfer, with the digests a transfer of it must reproduce. */
export interface Fixture {
  path: string;
  /** Digests by path relative to the item ('.' for a single file). */
  digests: Map<string, string>;
  bytes: number;
  files: number;
}

export async function fixture(path: string, bytes: number, files: number): Promise<Fixture> {
  return { path, digests: await digestTree(path), bytes, files };
}
