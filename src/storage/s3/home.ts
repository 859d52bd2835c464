/**
 * One user's home in the bucket (the HomeStorage of the S3 backend): the file
 * operations, each mapped onto keys under the home's prefix. An object store has
 * no folders to rename or times to set in place: a folder moves key by key, and a
 * file's time changes by a copy onto itself.
 */

import { CopyObjectCommand, DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { ferryError } from '../../protocol/errors.js';
import type { Entry } from '../../protocol/messages.js';
import { formatRemotePath } from '../../protocol/paths.js';
import { bookFolders } from '../ledger.js';
import { refuseHomeItself } from '../refusals.js';
import type { HomeStorage, ReadableFile, RemotePath, UploadOptions, UploadStatus, UploadTarget } from '../storage.js';
import { NO_EXTENT } from '../tree-limits.js';
import { beginUpload, resumeStatus, type RecordKeyOf } from './begin-upload.js';
import { s3Error } from './errors.js';
import type { HomeTree, PathKind } from './home-tree.js';
import { S3_MAX_COPY_BYTES } from './limits.js';
import { dirEntry, fileEntry, folderEntries, keysUnder } from './listing.js';
import { objectDigest } from './object-digests.js';
import { copySource, deleteKeys, objectBytes, objectMetadata } from './objects.js';

/** Copies (and deletes) of one folder rename in flight at once. */
const COPY_CONCURRENCY = 8;

export class S3Home implements HomeStorage {
  constructor(
    private readonly tree: HomeTree,
    private readonly recordKey: RecordKeyOf,
  ) {}

  private get context(): HomeTree['context'] {
    return this.tree.context;
  }

  async stat(path: RemotePath): Promise<Entry> {
    try {
      const { file, folder } = await this.tree.kind(path);
      const name = path.at(-1) ?? '/';
      if (file) return { ...fileEntry(name, file), sha256: await objectDigest(this.context, path, this.tree.fileKey(path), file) };
      if (folder) return dirEntry(name);
      throw ferryError('NOT_FOUND', `${formatRemotePath(path)} does not exist`);
    } catch (error) {
      throw s3Error(error, path);
    }
  }

  async *list(path: RemotePath, recursive: boolean): AsyncGenerator<Entry> {
    const prefix = this.tree.folderPrefix(path);
    try {
      const { file, folder } = await this.tree.kind(path);
      if (file) throw ferryError('NOT_A_DIRECTORY', `${formatRemotePath(path)} is a file, not a folder`);
      if (!folder) throw ferryError('NOT_FOUND', `${formatRemotePath(path)} does not exist`);
    } catch (error) {
      throw s3Error(error, path);
    }
    try {
      yield* folderEntries(this.context, prefix, recursive);
    } catch (error) {
      throw s3Error(error, path);
    }
  }

  async openRead(path: RemotePath): Promise<ReadableFile> {
    try {
      const key = this.tree.fileKey(path);
      const { file, folder } = await this.tree.kind(path);
      if (!file) {
        if (folder) throw ferryError('IS_A_DIRECTORY', `${formatRemotePath(path)} is a folder; download it as a folder`);
        throw ferryError('NOT_FOUND', `${formatRemotePath(path)} does not exist`);
      }
      return {
        size: file.size,
        mtime: file.mtime,
        sha256: file.sha256 ?? this.context.digests.get({ key, etag: file.etag }),
        stream: (start, end = file.size) => Readable.from(objectBytes(this.context, path, key, file.etag, start, end)),
        close: async () => {},
      };
    } catch (error) {
      throw s3Error(error, path);
    }
  }

  beginUpload(path: RemotePath, options: UploadOptions): Promise<UploadTarget> {
    return beginUpload(this.tree, this.recordKey, path, options);
  }

  resumeStatus(path: RemotePath, size: number): Promise<UploadStatus> {
    return resumeStatus(this.tree, this.recordKey, path, size);
  }

  async remove(path: RemotePath, recursive: boolean): Promise<void> {
    try {
      refuseHomeItself(path);
      const { file, folder } = await this.tree.kind(path);
      if (file) {
        await this.context.client.send(new DeleteObjectCommand({ Bucket: this.context.bucket, Key: this.tree.fileKey(path) }));
        await this.context.ledger.changed(this.tree.fileKey(path));
      } else if (folder) {
        const prefix = this.tree.folderPrefix(path);
        const keys = await keysUnder(this.context, prefix);
        if (!recursive && keys.some(({ key }) => key !== prefix)) {
          throw ferryError('NOT_EMPTY', `${formatRemotePath(path)} is not empty; remove it recursively`);
        }
        try {
          await deleteKeys(this.context, keys.map(({ key }) => key));
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
    let source: PathKind;
    try {
      refuseHomeItself(from);
      source = await this.tree.kind(from);
      if (!source.file && !source.folder) throw ferryError('NOT_FOUND', `${formatRemotePath(from)} does not exist`);
    } catch (error) {
      throw s3Error(error, from);
    }
    try {
      refuseHomeItself(to);
      if (from.length < to.length && from.every((segment, index) => to[index] === segment)) {
        throw ferryError('BAD_PATH', `cannot move ${formatRemotePath(from)} into itself`);
      }
      if (from.length === to.length && from.every((segment, index) => to[index] === segment)) return;
      const [target] = await Promise.all([this.tree.kind(to), this.tree.checkParents(to)]);
      if (target.folder) throw ferryError('EXISTS', `${formatRemotePath(to)} is an existing folder`);
      if (target.file && (noClobber || source.folder)) throw ferryError('EXISTS', `${formatRemotePath(to)} already exists`);
      try {
        if (source.file) {
          await this.copy(this.tree.fileKey(from), this.tree.fileKey(to), source.file.size, from);
          await this.context.client.send(new DeleteObjectCommand({ Bucket: this.context.bucket, Key: this.tree.fileKey(from) }));
        } else {
          await this.moveFolder(from, to);
        }
      } finally {
        // Copies and deletes may stop half-way: both places are measured again whatever happened.
        await Promise.all([this.context.ledger.changed(this.tree.folderPrefix(from)), this.context.ledger.changed(this.tree.folderPrefix(to))]);
      }
    } catch (error) {
      throw s3Error(error, to);
    }
  }

  /** An object store has no folders to rename: every key is copied, then the old ones go. */
  private async moveFolder(from: RemotePath, to: RemotePath): Promise<void> {
    const oldPrefix = this.tree.folderPrefix(from);
    const newPrefix = this.tree.folderPrefix(to);
    const keys = await keysUnder(this.context, oldPrefix);
    // Everything the folder holds must still fit the limits at its new place.
    const below = keys.reduce((reach, { key }) => {
      const rest = key.slice(oldPrefix.length).replace(/\/$/, '');
      if (rest === '') return reach;
      return { depth: Math.max(reach.depth, rest.split('/').length), bytes: Math.max(reach.bytes, Buffer.byteLength(rest) + 1) };
    }, NO_EXTENT);
    this.tree.refuseBeyondLimits(to, below);
    for (let at = 0; at < keys.length; at += COPY_CONCURRENCY) {
      await Promise.all(keys.slice(at, at + COPY_CONCURRENCY).map(({ key, size }) => this.copy(key, newPrefix + key.slice(oldPrefix.length), size, from)));
    }
    await deleteKeys(this.context, keys.map(({ key }) => key));
  }

  private async copy(fromKey: string, toKey: string, size: number, path: RemotePath): Promise<void> {
    if (size > S3_MAX_COPY_BYTES) {
      throw ferryError('TOO_LARGE', `${formatRemotePath(path)} holds a file over 5 GiB, which S3 cannot copy in one request; download it and upload it under the new name`);
    }
    await this.context.client.send(new CopyObjectCommand({ Bucket: this.context.bucket, Key: toKey, CopySource: copySource(this.context.bucket, fromKey) }));
  }

  async setMtime(path: RemotePath, mtime: number): Promise<void> {
    try {
      const { file, folder } = await this.tree.kind(path);
      if (folder) return; // An object store keeps no times for folders.
      if (!file) throw ferryError('NOT_FOUND', `${formatRemotePath(path)} does not exist`);
      if (file.size > S3_MAX_COPY_BYTES) {
        throw ferryError('TOO_LARGE', `${formatRemotePath(path)} is over 5 GiB, and S3 cannot change its metadata without sending it again`);
      }
      // Metadata cannot be changed in place: a copy onto itself replaces it, bytes untouched.
      const key = this.tree.fileKey(path);
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
      refuseHomeItself(path);
      this.tree.refuseBeyondLimits(path);
      await this.tree.checkParents(path);
      if (await this.tree.head(this.tree.fileKey(path))) throw ferryError('EXISTS', `${formatRemotePath(path)} exists and is a file`);
      const { root, limits } = this.tree;
      await bookFolders(this.context.ledger, { root, limits, path, location: this.tree.folderPrefix(path), entries: await this.tree.missingFolders(path) });
      // A marker for each level, so that the folders stay when their contents go (as mkdir -p).
      const levels = path.map((_, index) => this.tree.folderPrefix(path.slice(0, index + 1)));
      await Promise.all(levels.map((Key) => this.context.client.send(new PutObjectCommand({ Bucket: this.context.bucket, Key, Body: Buffer.alloc(0), ContentLength: 0 }))));
    } catch (error) {
      throw s3Error(error, path);
    }
  }
}
