/**
 * Whether the two ends already hold the same bytes, without moving them: sizes
 * first (free), then SHA-256 digests, the server's from `stat` (it records them)
 * and the local one computed here. Used by --skip-existing and by sync.
 */

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { FerryError } from '../protocol/errors.js';
import type { FerryClient } from './client.js';

const READ_CHUNK_BYTES = 1024 * 1024;

export async function localSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK_BYTES })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Whether the server holds a file at `remote` with the bytes of local file `local` (of `size` bytes). */
export async function remoteHolds(client: FerryClient, remote: string, local: string, size: number): Promise<boolean> {
  const entry = await client.stat(remote).catch((error: unknown) => {
    if (error instanceof FerryError && (error.code === 'NOT_FOUND' || error.code === 'NOT_A_DIRECTORY')) return undefined;
    throw error;
  });
  if (entry?.type !== 'file' || entry.size !== size || entry.sha256 === undefined) return false;
  return entry.sha256 === (await localSha256(local));
}

/** Whether local file `local` holds the bytes of remote file `remote` (of `size` bytes). */
export async function localHolds(client: FerryClient, local: string, remote: string, size: number): Promise<boolean> {
  const found = await stat(local).catch(() => undefined);
  if (found?.isFile() !== true || found.size !== size) return false;
  const entry = await client.stat(remote);
  return entry.sha256 !== undefined && entry.sha256 === (await localSha256(local));
}
