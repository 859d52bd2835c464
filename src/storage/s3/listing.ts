/**
 * Listing the bucket: ListObjectsV2 page by page, and a folder's entries as a
 * file system would give them (folders named before what they hold, each once;
 * files with their own stored times; keys no Ferry path can name left out).
 */

import { ListObjectsV2Command, type _Object } from '@aws-sdk/client-s3';
import type { Entry } from '../../protocol/messages.js';
import type { Bucket } from './client.js';
import { relativeSegments } from './keys.js';
import { headObject } from './objects.js';

/** HEADs in flight for the times of one listing page. */
const HEAD_CONCURRENCY = 16;

/** One page of a listing: objects, and (with a delimiter) the folders below. */
export interface ListedPage {
  objects: _Object[];
  folders: string[];
}

/** Every page of keys under `prefix`; with `maxKeys`, only the first page. */
export async function* listPages(context: Bucket, prefix: string, delimiter?: string, maxKeys?: number): AsyncGenerator<ListedPage> {
  let token: string | undefined;
  do {
    const out = await context.client.send(
      new ListObjectsV2Command({ Bucket: context.bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: token, MaxKeys: maxKeys }),
    );
    yield { objects: out.Contents ?? [], folders: (out.CommonPrefixes ?? []).flatMap((p) => (p.Prefix ? [p.Prefix] : [])) };
    token = out.IsTruncated && maxKeys === undefined ? out.NextContinuationToken : undefined;
  } while (token !== undefined);
}

/** Every key under a folder, its marker included. */
export async function keysUnder(context: Bucket, prefix: string): Promise<{ key: string; size: number }[]> {
  const keys: { key: string; size: number }[] = [];
  for await (const page of listPages(context, prefix)) {
    for (const object of page.objects) if (object.Key !== undefined) keys.push({ key: object.Key, size: object.Size ?? 0 });
  }
  return keys;
}

export function fileEntry(name: string, info: { size: number; mtime: number }): Entry {
  return { name, type: 'file', size: info.size, mtime: Math.trunc(info.mtime) };
}

export function dirEntry(name: string, mtime = 0): Entry {
  return { name, type: 'dir', size: 0, mtime: Math.trunc(mtime) };
}

/** A file met in a listing, waiting for its stored time. */
interface ListedFile {
  name: string;
  key: string;
  object: _Object;
}

/** The entries under the folder at `prefix` (which exists), its subfolders' too when `recursive`. */
export async function* folderEntries(context: Bucket, prefix: string, recursive: boolean): AsyncGenerator<Entry> {
  const foldersSeen = new Set<string>();
  const files: ListedFile[] = [];
  const folder = (name: string): Entry[] => {
    if (foldersSeen.has(name)) return [];
    foldersSeen.add(name);
    return [dirEntry(name)];
  };
  for await (const page of listPages(context, prefix, recursive ? undefined : '/')) {
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
    yield* await withStoredTimes(context, files);
    files.length = 0;
  }
}

/**
 * A listing tells only when each object was written; a file's own time is in its
 * metadata, which takes a HEAD each (as rclone does), a few at a time. Entries keep
 * their listing order, folders before their contents.
 */
async function withStoredTimes(context: Bucket, files: ListedFile[]): Promise<Entry[]> {
  const entries: Entry[] = new Array<Entry>(files.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < files.length) {
      const index = next++;
      const { name, key, object } = files[index] as ListedFile;
      const info = await headObject(context.client, context.bucket, key);
      entries[index] = fileEntry(name, { size: info?.size ?? object.Size ?? 0, mtime: info?.mtime ?? object.LastModified?.getTime() ?? 0 });
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEAD_CONCURRENCY, files.length) }, lane));
  return entries;
}
