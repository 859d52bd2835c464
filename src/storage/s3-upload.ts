/**
 * An upload into an S3-compatible store. A file that fits in one part is held in
 * memory and stored with one PutObject at commit; a larger one streams as a
 * multipart upload, at most `queueSize` parts in flight, each from a buffer of a
 * small pool (memory per upload is about (queueSize + 1) x partSize, whatever the
 * file size). Nothing is visible under the name until CompleteMultipartUpload.
 *
 * A resumable upload keeps a record in the bucket (see UploadRecords) after every
 * part: the multipart upload id, the parts in order, and the SHA-256 state after
 * them, so that any Ferry host can continue it where the last whole part ended.
 */

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createSHA256, type IHasher } from 'hash-wasm';
import { ferryError } from '../protocol/errors.js';
import { formatRemotePath } from '../protocol/paths.js';
import { isS3NotFound, s3Error } from './s3-errors.js';
import { S3_MAX_COPY_BYTES, S3_MIN_PART_BYTES } from './s3-limits.js';
import type { UploadHold } from './ledger.js';
import type { RemotePath, UploadTarget } from './storage.js';

/** The object metadata key (x-amz-meta-sha256) that carries a file's SHA-256. */
export const SHA256_METADATA = 'sha256';
/**
 * The object metadata key (x-amz-meta-mtime) that carries a file's own
 * modification time, in ms since the epoch: S3's LastModified is the time the
 * object was written, and cannot be set.
 */
export const MTIME_METADATA = 'mtime';

/** The metadata Ferry stores with an object. */
export function objectMetadata(sha256: string | undefined, mtime: number | undefined): Record<string, string> {
  return { ...(sha256 !== undefined ? { [SHA256_METADATA]: sha256 } : {}), ...(mtime !== undefined ? { [MTIME_METADATA]: String(mtime) } : {}) };
}

/** A file's time: the one stored with it, else when the object was written. */
function storedMtime(metadata: Record<string, string> | undefined, lastModified: Date | undefined): number {
  const stored = Number(metadata?.[MTIME_METADATA]);
  return metadata?.[MTIME_METADATA] !== undefined && Number.isSafeInteger(stored) && stored >= 0 ? stored : (lastModified?.getTime() ?? 0);
}

/** How long a host's claim on a resumable upload lasts without being renewed. */
export const LEASE_MS = 30_000;
const RECORD_VERSION = 1;

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
    this.prefix = `${keyPrefix}uploads/`;
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

/** Aborts a multipart upload; a store that lacks the call, or has forgotten the upload, is not an error. */
export async function abortMultipart(client: S3Client, bucket: string, key: string, uploadId: string): Promise<void> {
  await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
}

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

/** What HeadObject tells of a stored file. */
export interface ObjectInfo {
  size: number;
  mtime: number;
  etag: string;
  /** From the metadata; undefined for an object stored without it (by other tools, or over 5 GiB). */
  sha256: string | undefined;
}

/** HEAD of one key; undefined when there is no such object. */
export async function headObject(client: S3Client, bucket: string, key: string): Promise<ObjectInfo | undefined> {
  try {
    const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { size: out.ContentLength ?? 0, mtime: storedMtime(out.Metadata, out.LastModified), etag: out.ETag ?? '', sha256: out.Metadata?.[SHA256_METADATA] };
  } catch (error) {
    if (isS3NotFound(error)) return undefined;
    throw error;
  }
}

/** `bucket/key` for CopySource, each segment URL-encoded. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

export interface S3UploadOptions {
  client: S3Client;
  bucket: string;
  key: string;
  path: RemotePath;
  size: number;
  partSize: number;
  queueSize: number;
  noClobber: boolean;
  /** The modification time to store with the object (x-amz-meta-mtime). */
  mtime: number | undefined;
  hash: UploadHash;
  /** Set for a resumable upload: where its record lives. */
  records?: { store: UploadRecords; key: string } | undefined;
  /** Set to continue the upload a record describes. */
  resume?: UploadRecord | undefined;
  /** Its room in the quota book and, when resumable, the lock on its record. */
  hold: UploadHold;
}

interface FinishedPart extends PartRecord {
  /** Bytes of the file up to the end of this part, and the hash state there. */
  end: number;
  state: Uint8Array | undefined;
}

export class S3Upload implements UploadTarget {
  private uploadId: string | undefined;
  private nextPart: number;
  private readonly parts: PartRecord[];
  private readonly finishedOutOfOrder = new Map<number, FinishedPart>();
  private held: number;
  private hashState: string;
  private written: number;
  private buffer: Buffer | undefined;
  private fill = 0;
  private readonly spare: Buffer[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private failure: unknown;
  private recordWrites: Promise<void> = Promise.resolve();
  private readonly lease: { holder: string; until: number } = { holder: randomUUID(), until: 0 };
  private leaseTimer: NodeJS.Timeout | undefined;
  private finished = false;
  /** Set once the digest is taken: the hash is spent, and the parts left are the last. */
  private digested = false;

  constructor(private readonly options: S3UploadOptions) {
    const resume = options.resume;
    this.uploadId = resume?.uploadId;
    this.parts = resume ? [...resume.parts] : [];
    this.nextPart = this.parts.length + 1;
    this.held = resume?.held ?? 0;
    this.written = this.held;
    this.hashState = resume?.hashState ?? '';
    if (resume) this.claim();
  }

  digest(): Buffer {
    this.digested = true;
    return this.options.hash.digest();
  }

  async write(chunk: Buffer): Promise<void> {
    this.throwIfFailed();
    const { partSize, hash } = this.options;
    let at = 0;
    while (at < chunk.length) {
      // A small file takes only its own size: many of them may wait for their commits at once.
      const buffer = (this.buffer ??= this.spare.pop() ?? Buffer.allocUnsafeSlow(Math.min(partSize, this.options.size - this.written)));
      const take = Math.min(chunk.length - at, partSize - this.fill);
      const slice = chunk.subarray(at, at + take);
      hash.update(slice);
      slice.copy(buffer, this.fill);
      this.fill += take;
      this.written += take;
      at += take;
      if (this.fill === partSize) await this.sendPart();
    }
  }

  async commit(sha256: string): Promise<void> {
    const { client, bucket, key, path, noClobber } = this.options;
    try {
      if (noClobber && (await headObject(client, bucket, key)) !== undefined) {
        throw ferryError('EXISTS', `${formatRemotePath(path)} already exists and no-clobber was asked for`);
      }
      const condition = noClobber ? { IfNoneMatch: '*' } : {};
      if (this.uploadId === undefined) {
        const body = this.buffer?.subarray(0, this.fill) ?? Buffer.alloc(0);
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length, Metadata: objectMetadata(sha256, this.options.mtime), ...condition }));
      } else {
        await this.sendPart(); // The last part, of any size.
        await this.settle();
        this.throwIfFailed();
        if (this.parts.length !== this.nextPart - 1 || this.written !== this.options.size) {
          throw ferryError('INTERNAL', `the parts of ${formatRemotePath(path)} do not add up; nothing was saved`);
        }
        const uploadId = this.uploadId;
        const Parts = this.parts.map((part) => ({ PartNumber: part.number, ETag: part.etag }));
        await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts }, ...condition }));
        this.uploadId = undefined;
        // Multipart metadata is fixed when the upload starts, before the digest is known:
        // a copy onto itself adds it (one request; stores do it without moving the data).
        if (this.options.size <= S3_MAX_COPY_BYTES) {
          await client
            .send(new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: copySource(bucket, key), MetadataDirective: 'REPLACE', Metadata: objectMetadata(sha256, this.options.mtime) }))
            .catch(() => undefined); // Without it, stat reads the object to compute the digest.
        }
      }
      await this.finish();
      if (this.options.records) await this.options.records.store.remove(this.options.records.key).catch(() => undefined);
      await this.options.hold.commit();
    } catch (error) {
      await this.abort();
      throw s3Error(error, path);
    }
  }

  async abort(): Promise<void> {
    await this.options.hold.abort();
    if (this.finished) return;
    await this.finish();
    const { client, bucket, key, records } = this.options;
    if (this.uploadId !== undefined) await abortMultipart(client, bucket, key, this.uploadId);
    if (records) await records.store.remove(records.key).catch(() => undefined);
  }

  async suspend(): Promise<void> {
    if (!this.options.records) return this.abort();
    if (this.finished) return;
    // The bytes past the last whole part are kept too when they make a part S3 accepts.
    if (this.fill >= S3_MIN_PART_BYTES) await this.sendPart().catch(() => undefined);
    await this.settle();
    if (this.uploadId === undefined || this.parts.length === 0) return this.abort();
    await this.finish();
    this.lease.until = 0;
    await this.saveRecord();
    await this.options.hold.suspend();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw s3Error(this.failure, this.options.path);
  }

  /** Waits for every part in flight (their failures are kept in `failure`). */
  private async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all(this.inflight);
  }

  /** Ends the upload's own activity: lease renewals, in-flight parts, buffers. */
  private async finish(): Promise<void> {
    this.finished = true;
    clearInterval(this.leaseTimer);
    this.leaseTimer = undefined;
    await this.settle();
    await this.recordWrites;
    this.buffer = undefined;
    this.spare.length = 0;
  }

  /** Sends the buffered bytes as the next part; waits while `queueSize` parts are in flight. */
  private async sendPart(): Promise<void> {
    const buffer = this.buffer;
    const size = this.fill;
    if (buffer === undefined || size === 0) return;
    this.buffer = undefined;
    this.fill = 0;
    const { client, bucket, key, hash, queueSize } = this.options;
    if (this.uploadId === undefined) await this.start();
    const number = this.nextPart++;
    const end = this.written;
    const state = this.digested ? undefined : hash.save();
    const task: Promise<void> = client
      .send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: this.uploadId, PartNumber: number, Body: buffer.subarray(0, size), ContentLength: size }))
      .then((out) => {
        if (out.ETag === undefined) throw new Error(`the store answered part ${number} without an ETag`);
        this.partFinished({ number, etag: out.ETag, size, end, state });
      })
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        this.inflight.delete(task);
        if (!this.finished) this.spare.push(buffer);
      });
    this.inflight.add(task);
    while (this.inflight.size >= queueSize) await Promise.race(this.inflight);
    this.throwIfFailed();
  }

  private async start(): Promise<void> {
    const { client, bucket, key } = this.options;
    // The time goes in now too: a file too large for the copy that adds the digest keeps it.
    const Metadata = objectMetadata(undefined, this.options.mtime);
    const out = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: 'application/octet-stream', Metadata }));
    if (out.UploadId === undefined) throw new Error('the store started a multipart upload without an UploadId');
    this.uploadId = out.UploadId;
    this.claim();
  }

  /** Takes the lease on the record and keeps renewing it while this upload runs. */
  private claim(): void {
    if (!this.options.records) return;
    this.lease.until = Date.now() + LEASE_MS;
    void this.saveRecord();
    this.leaseTimer = setInterval(() => {
      this.lease.until = Date.now() + LEASE_MS;
      void this.saveRecord();
    }, LEASE_MS / 3);
    this.leaseTimer.unref();
  }

  /** Parts finish in any order; the record only ever covers parts 1..n, all present. */
  private partFinished(part: FinishedPart): void {
    this.finishedOutOfOrder.set(part.number, part);
    let advanced = false;
    for (let next = this.finishedOutOfOrder.get(this.parts.length + 1); next; next = this.finishedOutOfOrder.get(this.parts.length + 1)) {
      this.finishedOutOfOrder.delete(next.number);
      this.parts.push({ number: next.number, etag: next.etag, size: next.size });
      this.held = next.end;
      if (next.state) this.hashState = Buffer.from(next.state).toString('base64');
      advanced = true;
    }
    if (advanced) void this.saveRecord();
  }

  /** Writes the record (in order, one at a time). A record that cannot be written only costs resumability. */
  private saveRecord(): Promise<void> {
    const records = this.options.records;
    const uploadId = this.uploadId;
    if (!records || uploadId === undefined) return this.recordWrites;
    const record: UploadRecord = {
      version: RECORD_VERSION,
      key: this.options.key,
      uploadId,
      size: this.options.size,
      partSize: this.options.partSize,
      parts: [...this.parts],
      held: this.held,
      hashState: this.hashState,
      lease: { ...this.lease },
      updated: Date.now(),
    };
    this.recordWrites = this.recordWrites.then(() => records.store.write(records.key, record)).catch(() => undefined);
    return this.recordWrites;
  }
}
