/**
 * The records of resumable uploads, kept in the bucket under `<prefix>uploads/`
 * so that any Ferry host can continue an upload another began: the multipart
 * upload id, the parts in order, the SHA-256 state after them, and a lease that
 * says which host is writing it now. A lease not renewed within LEASE_MS has
 * lapsed: its upload may be continued (or swept) by anyone.
 */

import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { isS3NotFound } from './errors.js';
import { uploadsPrefix } from './keys.js';
import { abortMultipart } from './objects.js';

/** How long a host's claim on a resumable upload lasts without being renewed. */
export const LEASE_MS = 30_000;
export const RECORD_VERSION = 1;

export interface PartRecord {
  number: number;
  etag: string;
  size: number;
}

/** What the bucket remembers of an interrupted upload, for any host to continue. */
export interface UploadRecord {
  version: typeof RECORD_VERSION;
  key: string;
  uploadId: string;
  size: number;
  partSize: number;
  /** Parts 1..n, in order, all uploaded. */
  parts: PartRecord[];
  /** Bytes those parts hold. */
  held: number;
  /** SHA-256 state (hash-wasm) after those bytes, base64. */
  hashState: string;
  /** Who is writing it, until when (ms since the epoch); 0: nobody. */
  lease: { holder: string; until: number };
  updated: number;
}

function isPartRecord(value: unknown): value is PartRecord {
  if (typeof value !== 'object' || value === null) return false;
  const part = value as Record<string, unknown>;
  return typeof part.number === 'number' && typeof part.etag === 'string' && typeof part.size === 'number';
}

function isUploadRecord(value: unknown): value is UploadRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  const lease = record.lease as Record<string, unknown> | null | undefined;
  return (
    record.version === RECORD_VERSION &&
    typeof record.key === 'string' &&
    typeof record.uploadId === 'string' &&
    typeof record.size === 'number' &&
    typeof record.held === 'number' &&
    typeof record.hashState === 'string' &&
    Array.isArray(record.parts) &&
    record.parts.every(isPartRecord) &&
    typeof lease === 'object' &&
    lease !== null &&
    typeof lease.holder === 'string' &&
    typeof lease.until === 'number'
  );
}

export function leaseActive(record: UploadRecord, now = Date.now()): boolean {
  return record.lease.until > now;
}

/** Resumable-upload records, kept in the bucket under `<prefix>uploads/`. */
export class UploadRecords {
  readonly prefix: string;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    keyPrefix: string,
  ) {
    this.prefix = uploadsPrefix(keyPrefix);
  }

  keyFor(user: string, home: string, path: string, size: number): string {
    return `${this.prefix}${createHash('sha256').update(`${user}\0${home}\0${path}\0${size}`).digest('hex')}.json`;
  }

  async read(recordKey: string): Promise<UploadRecord | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: recordKey }));
      const parsed: unknown = JSON.parse((await out.Body?.transformToString('utf8')) ?? '');
      return isUploadRecord(parsed) ? parsed : undefined;
    } catch (error) {
      if (isS3NotFound(error) || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  async write(recordKey: string, record: UploadRecord): Promise<void> {
    const body = JSON.stringify(record);
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: recordKey, Body: body, ContentType: 'application/json' }));
  }

  async remove(recordKey: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: recordKey }));
  }

  /** Gives up the multipart upload a record names (a store without AbortMultipartUpload keeps the parts) and the record. */
  async discard(recordKey: string, record: UploadRecord): Promise<void> {
    await abortMultipart(this.client, this.bucket, record.key, record.uploadId);
    await this.remove(recordKey).catch(() => undefined);
  }
}
