/**
 * Temporary folders and files for tests, removed when the test ends.
 */

import type { ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

export async function tempDir(t: ExecutionContext, label = 'ferry-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), label));
  // A server stopped just before may still be finishing an interrupted upload's
  // record in there (its last write outlives the connection it belonged to): rm
  // retries a folder that is not empty yet, with a short backoff.
  t.teardown(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  return dir;
}

/** Writes `size` random bytes to `path` without holding them all in memory. */
export async function randomFile(path: string, size: number): Promise<void> {
  const handle = await open(path, 'w');
  try {
    const block = 1024 * 1024;
    for (let written = 0; written < size; written += block) {
      await handle.write(randomBytes(Math.min(block, size - written)));
    }
  } finally {
    await handle.close();
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The SHA-256 of `data` as the 32 bytes an END frame carries. */
export function sha256Bytes(data: Buffer | string): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Hashes what `write` is given, for a download kept out of memory. */
export function sha256Sink(): { write(chunk: Buffer): Promise<void>; hex(): string } {
  const hash = createHash('sha256');
  return {
    write: async (chunk) => void hash.update(chunk),
    hex: () => hash.digest('hex'),
  };
}
