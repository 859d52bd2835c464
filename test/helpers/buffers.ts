/**
 * Uploads from and downloads into memory, for tests that move small known bytes.
 */

import { Readable } from 'node:stream';
import type { FerryClient, UploadSource } from '../../src/client/client.js';

/** Bytes in memory as the client library's upload source (a resume opens it part-way). */
export function bufferSource(data: Buffer): UploadSource {
  return { size: data.length, open: (start = 0, end = data.length) => Readable.from([data.subarray(start, end)]) };
}

export async function downloadBytes(client: FerryClient, path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await client.download(path, { write: async (chunk) => void chunks.push(chunk) });
  return Buffer.concat(chunks);
}
