/**
 * Uploads from and downloads into memory, for tests that move small known bytes.
 */

import { Readable } from 'node:stream';
import type { FerryClient, UploadSource } from '../../src/client/client.js';

export function bufferSource(data: Buffer): UploadSource {
  return { size: data.length, open: () => Readable.from([data]) };
}

export async function downloadBytes(client: FerryClient, path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await client.download(path, { write: async (chunk) => void chunks.push(chunk) });
  return Buffer.concat(chunks);
}
