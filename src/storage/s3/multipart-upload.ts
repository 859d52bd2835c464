/**
 * An upload into an S3-compatible store. A file that fits in one part is held in
 * memory and stored with one PutObject at commit; a larger one streams as a
 * multipart upload, at most `queueSize` parts in flight, each from a buffer of a
 * small pool (memory per upload is about (queueSize + 1) x partSize, whatever the
 * file size). Nothing is visible under the name until CompleteMultipartUpload.
 *
 * A resumable upload keeps a record in the bucket (see records.ts) after every
 * part: the multipart upload id, the parts in order, and the SHA-256 state after
 * them, so that any Ferry host can continue it where the last whole part ended.
 */

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { ferryError } from '../../protocol/errors.js';
import { formatRemotePath } from '../../protocol/paths.js';
import type { UploadHold } from '../ledger.js';
import { existsNoClobber } from '../refusals.js';
import type { RemotePath, UploadTarget } from '../storage.js';
import { s3Error } from './errors.js';
import { S3_MAX_COPY_BYTES, S3_MIN_PART_BYTES } from './limits.js';
import { abortMultipart, copySource, headObject, objectMetadata } from './objects.js';
import { LEASE_MS, RECORD_VERSION, type PartRecord, type UploadRecord, type UploadRecords } from './records.js';
import type { UploadHash } from './upload-hash.js';

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
        throw existsNoClobber(path);
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
