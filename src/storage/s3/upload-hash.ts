/**
 * The SHA-256 an upload computes as its bytes pass. A resumable upload's hash
 * (hash-wasm) can save its state after any byte: the state goes into the upload's
 * record, so that another process, on any host, continues the same hash.
 */

import { createHash, type Hash } from 'node:crypto';
import { createSHA256, type IHasher } from 'hash-wasm';

/** A running SHA-256; the resumable kind can save its state after any byte. */
export interface UploadHash {
  update(chunk: Buffer): void;
  digest(): Buffer;
  /** The state so far, or undefined for a hash that cannot be saved. */
  save(): Uint8Array | undefined;
}

export function plainHash(): UploadHash {
  const hash: Hash = createHash('sha256');
  return { update: (chunk) => hash.update(chunk), digest: () => hash.digest(), save: () => undefined };
}

/** A SHA-256 whose state survives the process (hash-wasm), continued from `state` when given. */
export async function resumableHash(state?: string): Promise<UploadHash> {
  const hasher: IHasher = await createSHA256();
  if (state === undefined) hasher.init();
  else hasher.load(Buffer.from(state, 'base64'));
  return {
    update: (chunk) => void hasher.update(chunk),
    digest: () => Buffer.from(hasher.digest('binary')),
    save: () => hasher.save(),
  };
}

/** The hex SHA-256 of the bytes a saved state covers. */
export async function digestOfState(state: string): Promise<string> {
  const hasher = await createSHA256();
  hasher.load(Buffer.from(state, 'base64'));
  return hasher.digest('hex');
}
