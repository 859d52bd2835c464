/**
 * The storage room as the rest of the server sees it: the interface the command
 * handlers use, the two backends, and the ledger the cluster shares. Other rooms
 * import storage from here only.
 *
 * The S3 backend is not exported as a value: it brings in the AWS SDK, which a
 * host keeping files on local disk never needs, so it is loaded on first use.
 *
 * Words, one meaning each across both backends:
 * - partial: an interrupted upload the server keeps so that the client can
 *   continue it (the `resume` request asks how much of it is held; swept after
 *   FERRY_PARTIAL_MAX_AGE; on local disk under `<data dir>/partial/`);
 * - record: the small file (local disk) or object (S3) beside a partial that says
 *   how many of its bytes are sure (and, on S3, which parts and hash state);
 * - part: an S3 multipart part only (files named `.part` on disk are partials or
 *   temp data, names kept for existing installations);
 * - busy: a partial another connection is writing right now (BUSY to a client).
 */

// A type only: erased from the output, so the SDK is not loaded with this module.
import type { S3Storage } from './s3/index.js';

export type { HomeStorage, RemotePath, Storage, UploadTarget } from './storage.js';
export { busyUpload, LedgerBooks, type UploadLedger } from './ledger.js';
export { LocalStorage } from './local/storage.js';
export { S3_MIN_PART_BYTES } from './s3/limits.js';
export type { S3StorageOptions } from './s3/index.js';

/** The S3 backend's Storage, loaded (with the AWS SDK) on the first call. */
export async function loadS3Storage(): Promise<typeof S3Storage> {
  return (await import('./s3/index.js')).S3Storage;
}
