/**
 * Storage in an S3-compatible object store (AWS S3, MinIO, Ceph RGW), so that
 * several Ferry hosts can serve one shared store (the layout of the bucket is in
 * keys.ts). This is the Storage of the backend: opening and probing the bucket,
 * measuring a home for the quota book, sweeping abandoned uploads, and handing out
 * one S3Home per user.
 */

import { HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { hostname } from 'node:os';
import { settingAssignment, settingName } from '../../config/schema.js';
import { ferryError } from '../../protocol/errors.js';
import { formatRemotePath } from '../../protocol/paths.js';
import { LedgerBooks, type UploadLedger } from '../ledger.js';
import { NO_LIMITS, type HomeLimits, type Usage } from '../quota.js';
import type { HomeStorage, RemotePath, Storage } from '../storage.js';
import { createS3Client, type S3Context, type S3StorageOptions } from './client.js';
import { s3StartupError } from './errors.js';
import { HomeTree } from './home-tree.js';
import { S3Home } from './home.js';
import { filesPrefix, homeRoot, keyPrefix, readyKey, relativeSegments } from './keys.js';
import { listPages } from './listing.js';
import { objectDigestCache } from './object-digests.js';
import { leaseActive, UploadRecords } from './records.js';

export class S3Storage implements Storage {
  private readonly context: S3Context;
  private readonly filesPrefix: string;
  private readonly readyKey: string;

  /**
   * Without a `ledger`, this storage keeps its own books. Other hosts sharing the
   * bucket keep theirs: their writes are seen when a home is measured again.
   */
  constructor(
    private readonly options: S3StorageOptions,
    ledger?: UploadLedger,
  ) {
    const client = createS3Client(options);
    const prefix = keyPrefix(options.prefix);
    this.filesPrefix = filesPrefix(prefix);
    this.context = {
      client,
      bucket: options.bucket,
      partSize: options.partSize,
      queueSize: Math.max(1, options.queueSize),
      records: new UploadRecords(client, options.bucket, prefix),
      ledger: ledger ?? new LedgerBooks((root) => this.measure(root)).as('self'),
      digests: objectDigestCache(),
    };
    this.readyKey = readyKey(prefix, hostname());
  }

  async open(): Promise<void> {
    if (this.options.bucket === '') throw ferryError('CONFIG', `${settingAssignment('storage', 's3')} needs a bucket: set ${settingName('s3.bucket')}`);
    try {
      await this.context.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }));
    } catch (error) {
      throw s3StartupError(error, this.options.bucket, this.options.endpoint);
    }
  }

  async checkWritable(): Promise<void> {
    await this.context.client.send(new PutObjectCommand({ Bucket: this.context.bucket, Key: this.readyKey, Body: String(Date.now()) }));
  }

  async sweepPartials(maxAgeMs: number): Promise<number> {
    const { records } = this.context;
    let removed = 0;
    const now = Date.now();
    for await (const page of listPages(this.context, records.prefix)) {
      for (const object of page.objects) {
        if (object.Key === undefined || (object.LastModified?.getTime() ?? now) > now - maxAgeMs) continue;
        const record = await records.read(object.Key);
        if ((record && leaseActive(record, now)) || (await this.context.ledger.locked(object.Key))) continue;
        if (record) await records.discard(object.Key, record);
        else await records.remove(object.Key).catch(() => undefined);
        await this.context.ledger.end(object.Key, 'release'); // A suspended upload's reservation goes with its record.
        removed++;
      }
    }
    return removed;
  }

  /** Uploads cut short leave no temp data here: their parts are found through records, and swept with them. */
  async recover(): Promise<number> {
    return 0;
  }

  async measure(root: string): Promise<Usage> {
    let bytes = 0;
    const names = new Set<string>();
    for await (const page of listPages(this.context, root)) {
      for (const object of page.objects) {
        const segments = object.Key === undefined ? undefined : relativeSegments(object.Key, root);
        if (segments === undefined) continue;
        // Folders exist by their markers or by what lies in them: each counts once.
        for (let depth = 1; depth < segments.length; depth++) names.add(`${segments.slice(0, depth).join('/')}/`);
        names.add(object.Key?.endsWith('/') ? `${segments.join('/')}/` : segments.join('/'));
        bytes += object.Size ?? 0;
      }
    }
    return { bytes, entries: names.size };
  }

  async forHome(home: RemotePath, user: string, limits: HomeLimits = NO_LIMITS): Promise<HomeStorage> {
    const root = homeRoot(this.filesPrefix, home);
    const homeName = formatRemotePath(home);
    const tree = new HomeTree(this.context, root, limits);
    return new S3Home(tree, (path, size) => this.context.records.keyFor(user, homeName, formatRemotePath(path), size));
  }

  async close(): Promise<void> {
    this.context.client.destroy();
  }
}
