/**
 * Calls on single objects (and batches of keys) that every part of the S3
 * backend makes: what a HEAD tells of a stored file, the metadata Ferry keeps
 * with it, reading a range of its bytes, copying, deleting, and giving up a
 * multipart upload.
 */

import { AbortMultipartUploadCommand, DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { ferryError } from '../../protocol/errors.js';
import { formatRemotePath } from '../../protocol/paths.js';
import type { RemotePath } from '../storage.js';
import type { Bucket } from './client.js';
import { isS3NotFound, isS3PreconditionFailed, s3Error } from './errors.js';
import { S3_MAX_DELETE_BATCH } from './limits.js';

/** The object metadata key (x-amz-meta-sha256) that carries a file's SHA-256. */
const SHA256_METADATA = 'sha256';
/**
 * The object metadata key (x-amz-meta-mtime) that carries a file's own
 * modification time, in ms since the epoch: S3's LastModified is the time the
 * object was written, and cannot be set.
 */
const MTIME_METADATA = 'mtime';

/** The metadata Ferry stores with an object. */
export function objectMetadata(sha256: string | undefined, mtime: number | undefined): Record<string, string> {
  return { ...(sha256 !== undefined ? { [SHA256_METADATA]: sha256 } : {}), ...(mtime !== undefined ? { [MTIME_METADATA]: String(mtime) } : {}) };
}

/** A file's time: the one stored with it, else when the object was written. */
function storedMtime(metadata: Record<string, string> | undefined, lastModified: Date | undefined): number {
  const stored = Number(metadata?.[MTIME_METADATA]);
  return metadata?.[MTIME_METADATA] !== undefined && Number.isSafeInteger(stored) && stored >= 0 ? stored : (lastModified?.getTime() ?? 0);
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

/** The bytes [start, end) of the object at `key` (the file at `path`), refused if it changed since `etag` was read. */
export async function* objectBytes(context: Bucket, path: RemotePath, key: string, etag: string, start: number, end: number): AsyncGenerator<Buffer> {
  if (start >= end) return;
  try {
    const out = await context.client.send(
      new GetObjectCommand({ Bucket: context.bucket, Key: key, Range: `bytes=${start}-${end - 1}`, ...(etag ? { IfMatch: etag } : {}) }),
    );
    const body = out.Body;
    if (!(body instanceof Readable)) throw new Error('the S3 client returned a body that is not a Node stream');
    for await (const chunk of body) yield chunk as Buffer;
  } catch (error) {
    if (isS3PreconditionFailed(error)) {
      throw ferryError('INTEGRITY', `${formatRemotePath(path)} was replaced on the server while it was being read; download it again`, error);
    }
    throw s3Error(error, path);
  }
}

/** `bucket/key` for CopySource, each segment URL-encoded. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** Deletes keys in batches as large as the store takes; the first key it fails to delete stops the rest. */
export async function deleteKeys(context: Bucket, keys: string[]): Promise<void> {
  for (let at = 0; at < keys.length; at += S3_MAX_DELETE_BATCH) {
    const batch = keys.slice(at, at + S3_MAX_DELETE_BATCH);
    const out = await context.client.send(new DeleteObjectsCommand({ Bucket: context.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
    const failed = out.Errors?.[0];
    if (failed) throw new Error(`the store did not delete ${failed.Key ?? 'a key'}: ${failed.Code ?? ''} ${failed.Message ?? ''}`);
  }
}

/** Aborts a multipart upload; a store that lacks the call, or has forgotten the upload, is not an error. */
export async function abortMultipart(client: S3Client, bucket: string, key: string, uploadId: string): Promise<void> {
  await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
}
