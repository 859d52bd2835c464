/**
 * Storage in an S3-compatible object store (AWS S3, MinIO, Ceph RGW), so that
 * several Ferry hosts can serve one shared store. Layout under the configured
 * key prefix:
 *
 *   files/<home>/<path>   a file; its SHA-256 and modification time in the metadata
 *                         (x-amz-meta-sha256, x-amz-meta-mtime)
 *   files/<home>/<dir>/   an (empty) object marking a folder made with mkdir
 *   uploads/<id>.json     the record of a resumable upload (see s3-upload.ts)
 *   ready/<host>          written by readiness checks
 *
 * A folder exists while it holds anything or has its marker. Keys are built from
 * checked path segments only (protocol/paths.ts), so nothing a user names can reach
 * outside `files/<home>/`; there are no links to follow in an object store.
 */

import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import { createHash, randomUUID } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { settingAssignment, settingName } from '../config/schema.js';
import { ferryError } from '../protocol/errors.js';
import type { Entry, ResumeStatus } from '../protocol/messages.js';
import { formatRemotePath, isNameable } from '../protocol/paths.js';
import { isS3PreconditionFailed, s3Error, s3StartupError } from './s3-errors.js';
import { S3_MAX_COPY_BYTES, S3_MAX_PARTS } from './s3-limits.js';
import {
  copySource,
  digestOfState,
  headObject,
  leaseActive,
  objectMetadata,
  plainHash,
  resumableHash,
  S3Upload,
  UploadRecords,
  type ObjectInfo,
  type UploadRecord,
} from './s3-upload.js';
import { busyUpload, LedgerBooks, UploadHold, type UploadLedger } from './ledger.js';
import { NO_LIMITS, type HomeLimits, type Usage } from './quota.js';
import type { HomeStorage, ReadableFile, RemotePath, Storage, UploadOptions, UploadTarget } from './storage.js';
import { NO_EXTENT, refuseBeyondLimits, type TreeExtent } from './tree-limits.js';

const MAX_KEY_BYTES = 1024;
const DELETE_BATCH = 1000;
/** Copies (and deletes) of one folder rename in flight at once. */
const COPY_CONCURRENCY = 8;
const DIGEST_CACHE_ENTRIES = 10_000;
const MAX_SOCKETS = 256;
/** HEADs in flight for the times of one listing page. */
const HEAD_CONCURRENCY = 16;
const EMPTY_SHA256 = createHash('sha256').digest('hex');

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
interface Bucket {
  client: S3Client;
  bucket: string;
}

/** Shared by every home of one storage. */
interface S3Context extends Bucket {
  partSize: number;
  queueSize: number;
  records: UploadRecords;
  ledger: UploadLedger;
  digests: DigestCache;
}

/** Digests computed for objects stored without one, by key and ETag. */
class DigestCache {
  private readonly digests = new Map<string, string>();

  get(key: string, etag: string): string | undefined {
    return this.digests.get(`${key}\0${etag}`);
  }

  set(key: string, etag: string, digest: string): void {
    if (this.digests.size >= DIGEST_CACHE_ENTRIES) {
      const oldest = this.digests.keys().next().value;
      if (oldest !== undefined) this.digests.delete(oldest);
    }
    this.digests.set(`${key}\0${etag}`, digest);
  }
}

/** One page of a listing: objects, and (with a delimiter) the folders below. */
async function* listPages(context: Bucket, prefix: string, delimiter?: string, maxKeys?: number): AsyncGenerator<{ objects: _Object[]; folders: string[] }> {
  let token: string | undefined;
  do {
    const out = await context.client.send(
      new ListObjectsV2Command({ Bucket: context.bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: token, MaxKeys: maxKeys }),
    );
    yield { objects: out.Contents ?? [], folders: (out.CommonPrefixes ?? []).flatMap((p) => (p.Prefix ? [p.Prefix] : [])) };
    token = out.IsTruncated && maxKeys === undefined ? out.NextContinuationToken : undefined;
  } while (token !== undefined);
}

export class S3Storage implements Storage {
  private readonly context: S3Context;
  private readonly filesPrefix: string;
  /** Written by readiness checks: one key per host name, overwritten each time (restarts leave nothing behind). */
  private readonly readyKey: string;

  /**
   * Without a `ledger`, this storage keeps its own books. Other hosts sharing the
   * bucket keep theirs: their writes are seen when a home is measured again.
   */
  constructor(
    private readonly options: S3StorageOptions,
    ledger?: UploadLedger,
  ) {
    const agent = { keepAlive: true, maxSockets: MAX_SOCKETS };
    const client = new S3Client({
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
    const prefix = options.prefix === '' || options.prefix.endsWith('/') ? options.prefix : `${options.prefix}/`;
    this.filesPrefix = `${prefix}files/`;
    this.context = {
      client,
      bucket: options.bucket,
      partSize: options.partSize,
      queueSize: Math.max(1, options.queueSize),
      records: new UploadRecords(client, options.bucket, prefix),
      ledger: ledger ?? new LedgerBooks((root) => this.measure(root)).as('self'),
      digests: new DigestCache(),
    };
    this.readyKey = `${prefix}ready/${hostname()}`;
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
    return new S3Home(this.context, root, limits, (path, size) => this.context.records.keyFor(user, homeName, formatRemotePath(path), size));
  }

  async close(): Promise<void> {
    this.context.client.destroy();
  }
}

/** A file met in a listing, waiting for its stored time. */
interface ListedFile {
  name: string;
  key: string;
  object: _Object;
}

function fileEntry(name: string, info: { size: number; mtime: number }): Entry {
  return { name, type: 'file', size: info.size, mtime: Math.trunc(info.mtime) };
}

function dirEntry(name: string, mtime = 0): Entry {
  return { name, type: 'dir', size: 0, mtime: Math.trunc(mtime) };
}

/** Key prefix of a home (always ending in '/', so that no home's keys start with another's). */
export function homeRoot(filesPrefix: string, home: RemotePath): string {
  return home.length === 0 ? filesPrefix : `${filesPrefix}${home.join('/')}/`;
}

/** The key of a path inside a home; checked segments hold no '/', so keys and paths map one to one. */
export function objectKey(root: string, path: RemotePath): string {
  return root + path.join('/');
}

/** A listed key's path below a folder prefix, or undefined for a key no Ferry path can name. */
export function relativeSegments(key: string, prefix: string): string[] | undefined {
  const segments = key.slice(prefix.length).split('/');
  const named = key.endsWith('/') ? segments.slice(0, -1) : segments;
  if (named.length === 0 || !named.every(isNameable)) return undefined;
  return named;
}

class S3Home implements HomeStorage {
  constructor(
    private readonly context: S3Context,
    /** Key prefix of the home, ending in '/'. */
    private readonly root: string,
    private readonly limits: HomeLimits,
    private readonly recordKey: (path: RemotePath, size: number) => string,
  ) {}

  private fileKey(path: RemotePath): string {
    const key = objectKey(this.root, path);
    if (Buffer.byteLength(key) > MAX_KEY_BYTES - 1) throw ferryError('BAD_PATH', `${formatRemotePath(path)} is too long for the server's object store`);
    return key;
  }

  /** The same depth limit as on local disk; the key's own length is checked by fileKey. */
  private refuseBeyondLimits(path: RemotePath, below: TreeExtent = NO_EXTENT): void {
    refuseBeyondLimits(path, below, Buffer.byteLength(this.root), MAX_KEY_BYTES - 1);
  }

  private folderPrefix(path: RemotePath): string {
    return path.length === 0 ? this.root : `${this.fileKey(path)}/`;
  }

  private head(key: string): Promise<ObjectInfo | undefined> {
    return headObject(this.context.client, this.context.bucket, key);
  }

  /** A folder exists when anything lies under its prefix (its marker included). */
  private async folderExists(path: RemotePath): Promise<boolean> {
    if (path.length === 0) return true;
    for await (const page of listPages(this.context, this.folderPrefix(path), undefined, 1)) return page.objects.length > 0;
    return false;
  }

  /** Refuses a path that goes through a file (e.g. a/b when a is a file), as a file system would. */
  private async checkParents(path: RemotePath): Promise<void> {
    const parents = path.slice(0, -1).map((_, index) => path.slice(0, index + 1));
    const found = await Promise.all(parents.map((parent) => this.head(this.fileKey(parent))));
    const file = found.findIndex((info) => info !== undefined);
    if (file >= 0) throw ferryError('NOT_A_DIRECTORY', `${formatRemotePath(parents[file] as RemotePath)} is a file, not a folder`);
  }

  /** Whether `path` names a file or a folder (a file wins if, made by other tools, both exist). */
  private async kind(path: RemotePath): Promise<{ file?: ObjectInfo; folder: boolean }> {
    if (path.length === 0) return { folder: true };
    const file = await this.head(this.fileKey(path));
    return file ? { file, folder: false } : { folder: await this.folderExists(path) };
  }

  private async digestOf(path: RemotePath, key: string, info: ObjectInfo): Promise<string> {
    if (info.sha256 !== undefined) return info.sha256;
    const known = this.context.digests.get(key, info.etag);
    if (known !== undefined) return known;
    const hash = createHash('sha256');
    for await (const chunk of this.chunks(path, key, info.etag, 0, info.size)) hash.update(chunk);
    const digest = hash.digest('hex');
    this.context.digests.set(key, info.etag, digest);
    return digest;
  }

  /** The bytes [start, end) of an object, refused if it changed since `etag` was read. */
  private async *chunks(path: RemotePath, key: string, etag: string, start: number, end: number): AsyncGenerator<Buffer> {
    if (start >= end) return;
    try {
      const out = await this.context.client.send(
        new GetObjectCommand({ Bucket: this.context.bucket, Key: key, Range: `bytes=${start}-${end - 1}`, ...(etag ? { IfMatch: etag } : {}) }),
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

  async stat(path: RemotePath): Promise<Entry> {
    try {
      const { file, folder } = await this.kind(path);
      const name = path.at(-1) ?? '/';
      if (file) return { ...fileEntry(name, file), sha256: await this.digestOf(path, this.fileKey(path), file) };
      if (folder) return dirEntry(name);
      throw ferryError('NOT_FOUND', `${formatRemotePath(path)} does not exist`);
    } catch (error) {
      throw s3Error(error, path);
    }
  }

  async *list(path: RemotePath, recursive: boolean): AsyncGenerator<Entry> {
    const prefix = this.folderPrefix(path);
    let pages: AsyncGenerator<{ objects: _Object[]; folders: string[] }>;
    try {
      const { file, folder } = await this.kind(path);
      if (file) throw ferryError('NOT_A_DIRECTORY', `${formatRemotePath(path)} is a file, not a folder`);
      if (!folder) throw ferryError('NOT_FOUND', `${formatRemotePath(path)} does not exist`);
      pages = listPages(this.context, prefix, recursive ? undefined : '/');
    } catch (error) {
      throw s3Error(error, path);
    }
    const foldersSeen = new Set<string>();
    const files: ListedFile[] = [];
    const folder = (name: string): Entry[] => {
      if (foldersSeen.has(name)) return [];
      foldersSeen.add(name);
      return [dirEntry(name)];
    };
    try {
      for await (const page of pages) {
        for (const name of page.folders.map((key) => relativeSegments(key, prefix))) {
          if (name?.length === 1) yield* folder(name[0] as string);
        }
        for (const object of page.objects) {
          const segments = object.Key === undefined ? undefined : relativeSegments(object.Key, prefix);
          if (segments === undefined) continue; // The folder's own marker, or a key no path can name.
          const isMarker = object.Key?.endsWith('/') === true;
          const parents = isMarker ? segments.length : segments.length - 1;
          // Keys come sorted, so a folder is named before anything inside it.
          for (let depth = 1; depth <= parents; depth++) yield* folder(segments.slice(0, depth).join('/'));
          if (!isMarker) files.push({ name: segments.join('/'), key: object.Key as string, object });
        }
        yield* await this.withStoredTimes(files);
        files.length = 0;
      }
    } catch (error) {
      throw s3Error(error, path);
    }
  }

  /**
   * A listing tells only when each object was written; a file's own time is in its
   * metadata, which takes a HEAD each (as rclone does), a few at a time. Entries keep
   * their listing order, folders before their contents.
   */
  private async withStoredTimes(files: ListedFile[]): Promise<Entry[]> {
    const entries: Entry[] = new Array<Entry>(files.length);
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < files.length) {
        const index = next++;
        const { name, key, object } = files[index] as ListedFile;
        const info = await this.head(key);
        entries[index] = fileEntry(name, { size: info?.size ?? object.Size ?? 0, mtime: info?.mtime ?? object.LastModified?.getTime() ?? 0 });
      }
    };
    await Promise.all(Array.from({ length: Math.min(HEAD_CONCURRENCY, files.length) }, lane));
    return entries;
  }

  async openRead(path: RemotePath): Promise<ReadableFile> {
    try {
      const key = this.fileKey(path);
      const { file, folder } = await this.kind(path);
      if (!file) {
        if (folder) throw ferryError('IS_A_DIRECTORY', `${formatRemotePath(path)} is a folder; download it as a folder`);
        throw ferryError('NOT_FOUND', `${formatRemotePath(path)} does not exist`);
      }
      return {
        size: file.size,
        mtime: file.mtime,
        sha256: file.sha256 ?? this.context.digests.get(key, file.etag),
        stream: (start, end = file.size) => Readable.from(this.chunks(path, key, file.etag, start, end)),
        close: async () => {},
      };
    } catch (error) {
      throw s3Error(error, path);
    }
  }

  async beginUpload(path: RemotePath, options: UploadOptions): Promise<UploadTarget> {
    let hold: UploadHold | undefined;
    /** A resumable upload's record (and parts) in the bucket: they stay if this attempt fails, and so does their room. */
    let kept = false;
    try {
      if (path.length === 0) throw ferryError('BAD_PATH', 'that cannot be done to your home folder itself');
      this.refuseBeyondLimits(path);
      const key = this.fileKey(path);
      const [{ file: existing, folder }] = await Promise.all([this.kind(path), this.checkParents(path)]);
      if (folder) throw ferryError('IS_A_DIRECTORY', `${formatRemotePath(path)} is a folder`);
      if (existing && options.noClobber) throw ferryError('EXISTS', `${formatRemotePath(path)} already exists and no-clobber was asked for`);
      const recordKey = this.recordKey(path, options.size);
      // Folders are implicit in an object store: the ones an upload brings count only against an entry limit.
      const entries = existing ? 0 : 1 + (await this.missingFolders(path.slice(0, -1)));
      const booking = { root: this.root, limits: this.limits, path, size: options.size, location: key, replaced: existing?.size ?? 0, entries };
      const taken = await UploadHold.take(this.context.ledger, booking, options.resumable ? recordKey : undefined);
      hold = taken.hold;
      const { client, bucket, queueSize, records } = this.context;
      // Parts grow for files that would otherwise need more than S3's 10,000.
      const partSize = Math.max(this.context.partSize, Math.ceil(options.size / S3_MAX_PARTS / 2 ** 20) * 2 ** 20);
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
      if (options.offset > 0) return await this.continueUpload(recordKey, record, plan, options);
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

  /** How many of the folders leading to `path` do not exist yet (counted only when the home has an entry limit). */
  private async missingFolders(path: RemotePath): Promise<number> {
    if (this.limits.entries === 0) return 0;
    const found = await Promise.all(path.map((_, index) => this.folderExists(path.slice(0, index + 1))));
    return found.filter((exists) => !exists).length;
  }

  private async continueUpload(
    recordKey: string,
    record: UploadRecord | undefined,
    plan: Omit<ConstructorParameters<typeof S3Upload>[0], 'hash'>,
    options: UploadOptions,
  ): Promise<UploadTarget> {
    const held = record !== undefined && record.held === options.offset && record.key === plan.key && record.hashState !== '';
    if (!held || (await digestOfState(record.hashState)) !== options.prefixSha256) {
      throw ferryError('INTEGRITY', `the server no longer holds those first ${options.offset} bytes of ${formatRemotePath(plan.path)}; upload it from the start`);
    }
    const records = this.context.records;
    return new S3Upload({ ...plan, partSize: record.partSize, hash: await resumableHash(record.hashState), records: { store: records, key: recordKey }, resume: record });
  }

  async resumeStatus(path: RemotePath, size: number): Promise<ResumeStatus> {
    try {
      this.fileKey(path);
      const record = await this.context.records.read(this.recordKey(path, size));
      if (!record || leaseActive(record) || record.held === 0 || record.hashState === '') return { offset: 0, prefixSha256: EMPTY_SHA256 };
      return { offset: record.held, prefixSha256: await digestOfState(record.hashState) };
    } catch (error) {
      throw s3Error(error, path);
    }
  }

  /** Every key under a folder, its marker included. */
  private async keysUnder(prefix: string): Promise<{ key: string; size: number }[]> {
    const keys: { key: string; size: number }[] = [];
    for await (const page of listPages(this.context, prefix)) {
      for (const object of page.objects) if (object.Key !== undefined) keys.push({ key: object.Key, size: object.Size ?? 0 });
    }
    return keys;
  }

  private async deleteKeys(keys: string[]): Promise<void> {
    for (let at = 0; at < keys.length; at += DELETE_BATCH) {
      const batch = keys.slice(at, at + DELETE_BATCH);
      const out = await this.context.client.send(
        new DeleteObjectsCommand({ Bucket: this.context.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
      );
      const failed = out.Errors?.[0];
      if (failed) throw new Error(`the store did not delete ${failed.Key ?? 'a key'}: ${failed.Code ?? ''} ${failed.Message ?? ''}`);
    }
  }

  async remove(path: RemotePath, recursive: boolean): Promise<void> {
    try {
      if (path.length === 0) throw ferryError('BAD_PATH', 'that cannot be done to your home folder itself');
      const { file, folder } = await this.kind(path);
      if (file) {
        await this.context.client.send(new DeleteObjectCommand({ Bucket: this.context.bucket, Key: this.fileKey(path) }));
        await this.context.ledger.changed(this.fileKey(path));
      } else if (folder) {
        const prefix = this.folderPrefix(path);
        const keys = await this.keysUnder(prefix);
        if (!recursive && keys.some(({ key }) => key !== prefix)) {
          throw ferryError('NOT_EMPTY', `${formatRemotePath(path)} is not empty; remove it recursively`);
        }
        try {
          await this.deleteKeys(keys.map(({ key }) => key));
        } finally {
          await this.context.ledger.changed(prefix);
        }
      } else {
        throw ferryError('NOT_FOUND', `${formatRemotePath(path)} does not exist`);
      }
    } catch (error) {
      throw s3Error(error, path);
    }
  }

  async rename(from: RemotePath, to: RemotePath, noClobber: boolean): Promise<void> {
    let source: { file?: ObjectInfo; folder: boolean };
    try {
      if (from.length === 0) throw ferryError('BAD_PATH', 'that cannot be done to your home folder itself');
      source = await this.kind(from);
      if (!source.file && !source.folder) throw ferryError('NOT_FOUND', `${formatRemotePath(from)} does not exist`);
    } catch (error) {
      throw s3Error(error, from);
    }
    try {
      if (to.length === 0) throw ferryError('BAD_PATH', 'that cannot be done to your home folder itself');
      if (from.length < to.length && from.every((segment, index) => to[index] === segment)) {
        throw ferryError('BAD_PATH', `cannot move ${formatRemotePath(from)} into itself`);
      }
      if (from.length === to.length && from.every((segment, index) => to[index] === segment)) return;
      const [target] = await Promise.all([this.kind(to), this.checkParents(to)]);
      if (target.folder) throw ferryError('EXISTS', `${formatRemotePath(to)} is an existing folder`);
      if (target.file && (noClobber || source.folder)) throw ferryError('EXISTS', `${formatRemotePath(to)} already exists`);
      try {
        if (source.file) {
          await this.copy(this.fileKey(from), this.fileKey(to), source.file.size, from);
          await this.context.client.send(new DeleteObjectCommand({ Bucket: this.context.bucket, Key: this.fileKey(from) }));
        } else {
          // An object store has no folders to rename: every key is copied, then the old ones go.
          const oldPrefix = this.folderPrefix(from);
          const newPrefix = this.folderPrefix(to);
          const keys = await this.keysUnder(oldPrefix);
          // Everything the folder holds must still fit the limits at its new place.
          const below = keys.reduce((reach, { key }) => {
            const rest = key.slice(oldPrefix.length).replace(/\/$/, '');
            if (rest === '') return reach;
            return { depth: Math.max(reach.depth, rest.split('/').length), bytes: Math.max(reach.bytes, Buffer.byteLength(rest) + 1) };
          }, NO_EXTENT);
          this.refuseBeyondLimits(to, below);
          for (let at = 0; at < keys.length; at += COPY_CONCURRENCY) {
            await Promise.all(keys.slice(at, at + COPY_CONCURRENCY).map(({ key, size }) => this.copy(key, newPrefix + key.slice(oldPrefix.length), size, from)));
          }
          await this.deleteKeys(keys.map(({ key }) => key));
        }
      } finally {
        // Copies and deletes may stop half-way: both places are measured again whatever happened.
        await Promise.all([this.context.ledger.changed(this.folderPrefix(from)), this.context.ledger.changed(this.folderPrefix(to))]);
      }
    } catch (error) {
      throw s3Error(error, to);
    }
  }

  private async copy(fromKey: string, toKey: string, size: number, path: RemotePath): Promise<void> {
    if (size > S3_MAX_COPY_BYTES) {
      throw ferryError('TOO_LARGE', `${formatRemotePath(path)} holds a file over 5 GiB, which S3 cannot copy in one request; download it and upload it under the new name`);
    }
    await this.context.client.send(new CopyObjectCommand({ Bucket: this.context.bucket, Key: toKey, CopySource: copySource(this.context.bucket, fromKey) }));
  }

  async setMtime(path: RemotePath, mtime: number): Promise<void> {
    try {
      const { file, folder } = await this.kind(path);
      if (folder) return; // An object store keeps no times for folders.
      if (!file) throw ferryError('NOT_FOUND', `${formatRemotePath(path)} does not exist`);
      if (file.size > S3_MAX_COPY_BYTES) {
        throw ferryError('TOO_LARGE', `${formatRemotePath(path)} is over 5 GiB, and S3 cannot change its metadata without sending it again`);
      }
      // Metadata cannot be changed in place: a copy onto itself replaces it, bytes untouched.
      const key = this.fileKey(path);
      const { client, bucket } = this.context;
      await client.send(
        new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: copySource(bucket, key), CopySourceIfMatch: file.etag, MetadataDirective: 'REPLACE', Metadata: objectMetadata(file.sha256, mtime) }),
      );
    } catch (error) {
      throw s3Error(error, path);
    }
  }

  async mkdir(path: RemotePath): Promise<void> {
    try {
      if (path.length === 0) throw ferryError('BAD_PATH', 'that cannot be done to your home folder itself');
      this.refuseBeyondLimits(path);
      await this.checkParents(path);
      if (await this.head(this.fileKey(path))) throw ferryError('EXISTS', `${formatRemotePath(path)} exists and is a file`);
      await this.context.ledger.add({
        id: randomUUID(),
        root: this.root,
        location: this.folderPrefix(path),
        bytes: 0,
        entries: await this.missingFolders(path),
        limits: this.limits,
        what: formatRemotePath(path),
      });
      // A marker for each level, so that the folders stay when their contents go (as mkdir -p).
      const levels = path.map((_, index) => this.folderPrefix(path.slice(0, index + 1)));
      await Promise.all(levels.map((Key) => this.context.client.send(new PutObjectCommand({ Bucket: this.context.bucket, Key, Body: Buffer.alloc(0), ContentLength: 0 }))));
    } catch (error) {
      throw s3Error(error, path);
    }
  }
}
