/**
 * How an upload into a home begins: the checks a file system would make, room
 * in the server's ledger, and then a new upload, a fresh resumable one, or the
 * continuation of the one a record describes (on any host whose lease has lapsed).
 * Also what a client is told of an interrupted upload it may continue.
 */

import { createHash } from 'node:crypto';
import { ferryError } from '../../protocol/errors.js';
import { formatRemotePath } from '../../protocol/paths.js';
import { busyUpload, UploadHold } from '../ledger.js';
import { existsNoClobber, refuseHomeItself } from '../refusals.js';
import type { RemotePath, UploadOptions, UploadStatus, UploadTarget } from '../storage.js';
import { s3Error } from './errors.js';
import type { HomeTree } from './home-tree.js';
import { S3_MAX_PARTS } from './limits.js';
import { S3Upload, type S3UploadOptions } from './multipart-upload.js';
import { leaseActive, type UploadRecord } from './records.js';
import { digestOfState, plainHash, resumableHash } from './upload-hash.js';

const EMPTY_SHA256 = createHash('sha256').digest('hex');

/** The record key of an upload of `path` with this size, for the user of the home. */
export type RecordKeyOf = (path: RemotePath, size: number) => string;

export async function beginUpload(tree: HomeTree, recordKeyOf: RecordKeyOf, path: RemotePath, options: UploadOptions): Promise<UploadTarget> {
  let hold: UploadHold | undefined;
  /** A resumable upload's record (and parts) in the bucket: they stay if this attempt fails, and so does their room. */
  let kept = false;
  try {
    refuseHomeItself(path);
    tree.refuseBeyondLimits(path);
    const key = tree.fileKey(path);
    const [{ file: existing, folder }] = await Promise.all([tree.kind(path), tree.checkParents(path)]);
    if (folder) throw ferryError('IS_A_DIRECTORY', `${formatRemotePath(path)} is a folder`);
    if (existing && options.noClobber) throw existsNoClobber(path);
    const recordKey = recordKeyOf(path, options.size);
    // Folders are implicit in an object store: the ones an upload brings count only against an entry limit.
    const entries = existing ? 0 : 1 + (await tree.missingFolders(path.slice(0, -1)));
    const booking = { root: tree.root, limits: tree.limits, path, size: options.size, location: key, replaced: existing?.size ?? 0, entries };
    const taken = await UploadHold.take(tree.context.ledger, booking, options.resumable ? recordKey : undefined);
    hold = taken.hold;
    const { client, bucket, queueSize, records } = tree.context;
    // Parts grow for files that would otherwise need more than S3's 10,000.
    const partSize = Math.max(tree.context.partSize, Math.ceil(options.size / S3_MAX_PARTS / 2 ** 20) * 2 ** 20);
    const plan = {
      client,
      bucket,
      key,
      path,
      size: options.size,
      partSize,
      queueSize,
      noClobber: options.noClobber,
      mtime: options.mtime,
      hold,
    };
    if (!options.resumable) {
      if (options.offset > 0) throw ferryError('BAD_REQUEST', 'an upload from an offset must be resumable');
      return new S3Upload({ ...plan, hash: plainHash() });
    }
    const record = taken.resumable ? await records.read(recordKey) : undefined;
    kept = record !== undefined;
    if (!taken.resumable || (record && leaseActive(record))) {
      // Another connection (on this host or another) is writing it.
      if (options.offset > 0) throw busyUpload(formatRemotePath(path));
      return new S3Upload({ ...plan, hash: plainHash() });
    }
    if (options.offset > 0) return await continueUpload(tree, recordKey, record, plan, options);
    if (record) {
      await records.discard(recordKey, record); // Starting over: the old parts are of no use.
      kept = false;
    }
    return new S3Upload({ ...plan, hash: await resumableHash(), records: { store: records, key: recordKey } });
  } catch (error) {
    await (kept ? hold?.suspend() : hold?.abort());
    throw s3Error(error, path);
  }
}

async function continueUpload(
  tree: HomeTree,
  recordKey: string,
  record: UploadRecord | undefined,
  plan: Omit<S3UploadOptions, 'hash'>,
  options: UploadOptions,
): Promise<UploadTarget> {
  const held = record !== undefined && record.held === options.offset && record.key === plan.key && record.hashState !== '';
  if (!held || (await digestOfState(record.hashState)) !== options.prefixSha256) {
    throw ferryError('INTEGRITY', `the server no longer holds those first ${options.offset} bytes of ${formatRemotePath(plan.path)}; upload it from the start`);
  }
  const records = tree.context.records;
  return new S3Upload({ ...plan, partSize: record.partSize, hash: await resumableHash(record.hashState), records: { store: records, key: recordKey }, resume: record });
}

/**
 * How much of an interrupted upload a client may continue. While a connection (on
 * this host or another) still writes it, it is busy: the connection a network cut
 * ended keeps it until its last parts are stored, and an answer of 0 then would
 * have the client send it all again.
 */
export async function resumeStatus(tree: HomeTree, recordKeyOf: RecordKeyOf, path: RemotePath, size: number): Promise<UploadStatus> {
  try {
    tree.fileKey(path);
    const key = recordKeyOf(path, size);
    const [record, locked] = await Promise.all([tree.context.records.read(key), tree.context.ledger.locked(key)]);
    if (locked || (record && leaseActive(record))) return { offset: 0, prefixSha256: EMPTY_SHA256, busy: true };
    if (!record || record.held === 0 || record.hashState === '') return { offset: 0, prefixSha256: EMPTY_SHA256 };
    return { offset: record.held, prefixSha256: await digestOfState(record.hashState) };
  } catch (error) {
    throw s3Error(error, path);
  }
}
