/**
 * What a test server holds, looked at behind its back: the same questions asked
 * of a local data folder or of an S3 bucket, so that one test checks both backends.
 * Paths are relative to the storage root, '/'-separated ('in/a.bin').
 */

import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { randomFile, sha256, sha256File } from './files.js';

export const BACKENDS = ['local', 's3'] as const;
export type Backend = (typeof BACKENDS)[number];

export interface StoredFiles {
  /** SHA-256 of a stored file, or undefined when there is none. */
  sha256(path: string): Promise<string | undefined>;
  read(path: string): Promise<Buffer | undefined>;
  /** Modification time in ms, as the store reports it. */
  mtime(path: string): Promise<number>;
  /** Puts a file in place directly, as another program (or an admin) would. */
  write(path: string, content: Buffer | string): Promise<void>;
  writeRandom(path: string, size: number): Promise<void>;
  /** Removes a file directly, as another program would. */
  remove(path: string): Promise<void>;
  /** Names directly inside a folder (folders with a trailing '/'), sorted. */
  names(dir: string): Promise<string[]>;
  /** Leftovers of uploads: temp files and partials, or resumable-upload records. */
  leftovers(): Promise<string[]>;
}

/** Bytes held by the resumable partial uploads of a local data folder. */
export async function partialBytes(dataDir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(join(dataDir, 'partial')).catch(() => [])) {
    if (name.endsWith('.part')) total += (await stat(join(dataDir, 'partial', name))).size;
  }
  return total;
}

const missing = (error: unknown): undefined => {
  if ((error as { code?: string }).code === 'ENOENT') return undefined;
  throw error;
};

export function localFiles(dataDir: string): StoredFiles {
  const files = join(dataDir, 'files');
  const at = (path: string): string => join(files, ...path.split('/'));
  return {
    sha256: (path) => sha256File(at(path)).catch(missing),
    read: (path) => readFile(at(path)).catch(missing),
    mtime: async (path) => (await stat(at(path))).mtimeMs,
    async write(path, content) {
      await mkdir(dirname(at(path)), { recursive: true });
      await writeFile(at(path), content);
    },
    async writeRandom(path, size) {
      await mkdir(dirname(at(path)), { recursive: true });
      await randomFile(at(path), size);
    },
    remove: (path) => unlink(at(path)),
    async names(dir) {
      const entries = await readdir(at(dir), { withFileTypes: true });
      return entries.map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name)).sort();
    },
    async leftovers() {
      const found: string[] = [];
      for (const sub of ['tmp', 'partial']) found.push(...(await readdir(join(dataDir, sub)).catch(() => [])).map((name) => `${sub}/${name}`));
      return found;
    },
  };
}

export function s3Files(client: S3Client, bucket: string, prefix = ''): StoredFiles {
  const key = (path: string): string => `${prefix}files/${path}`;
  const read = async (path: string): Promise<Buffer | undefined> => {
    try {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key(path) }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  };
  const put = async (path: string, body: Buffer | string): Promise<void> => {
    const data = Buffer.from(body);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key(path), Body: data, ContentLength: data.length }));
  };
  const list = async (listPrefix: string, delimiter?: string): Promise<{ keys: string[]; folders: string[] }> => {
    const keys: string[] = [];
    const folders: string[] = [];
    let token: string | undefined;
    do {
      const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: listPrefix, Delimiter: delimiter, ContinuationToken: token }));
      keys.push(...(out.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : [])));
      folders.push(...(out.CommonPrefixes ?? []).flatMap((p) => (p.Prefix ? [p.Prefix] : [])));
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return { keys, folders };
  };
  return {
    async sha256(path) {
      const data = await read(path);
      return data && sha256(data);
    },
    read,
    async mtime(path) {
      const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key(path) }));
      return out.LastModified?.getTime() ?? 0;
    },
    write: put,
    async writeRandom(path, size) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key(path), Body: Readable.from(randomChunks(size)), ContentLength: size }));
    },
    async remove(path) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key(path) }));
    },
    async names(dir) {
      const folderPrefix = dir === '' ? key('') : `${key(dir)}/`;
      const { keys, folders } = await list(folderPrefix, '/');
      return [...keys.filter((k) => k !== folderPrefix), ...folders].map((k) => k.slice(folderPrefix.length)).sort();
    },
    async leftovers() {
      return (await list(`${prefix}uploads/`)).keys;
    },
  };
}

function* randomChunks(size: number): Generator<Buffer> {
  for (let sent = 0; sent < size; sent += 1024 * 1024) yield randomBytes(Math.min(1024 * 1024, size - sent));
}
