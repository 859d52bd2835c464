/**
 * The S3 client Ferry uses, and what every home of one storage shares: the
 * client and bucket, the upload settings, the records of resumable uploads, the
 * server's ledger and the digests computed so far.
 */

import { S3Client } from '@aws-sdk/client-s3';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { UploadLedger } from '../ledger.js';
import type { ObjectDigestCache } from './object-digests.js';
import type { UploadRecords } from './records.js';

const MAX_SOCKETS = 256;

export interface S3StorageOptions {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  /** Key prefix for everything Ferry keeps ('' or ending in '/'). */
  prefix: string;
  partSize: number;
  queueSize: number;
}

/** A bucket and the client that reaches it. */
export interface Bucket {
  client: S3Client;
  bucket: string;
}

/** Shared by every home of one storage. */
export interface S3Context extends Bucket {
  partSize: number;
  queueSize: number;
  records: UploadRecords;
  ledger: UploadLedger;
  digests: ObjectDigestCache;
}

/** A client with kept-alive connections, many at once, and no checksums of the SDK's own. */
export function createS3Client(options: S3StorageOptions): S3Client {
  const agent = { keepAlive: true, maxSockets: MAX_SOCKETS };
  return new S3Client({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle,
    ...(options.accessKeyId ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } } : {}),
    // Ferry checks every file end to end with SHA-256; the SDK's own checksums would only
    // add work, and some S3-compatible stores keep their aws-chunked framing as data.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { httpAgent: new HttpAgent(agent), httpsAgent: new HttpsAgent(agent) },
  });
}
