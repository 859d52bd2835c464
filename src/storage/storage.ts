/**
 * The storage interface the server's command handlers talk to. Paths arrive as
 * checked segments (see protocol/paths.ts) relative to one user's home; each
 * backend keeps every operation inside that home and reports failures as
 * FerryErrors (NOT_FOUND, EXISTS, BAD_PATH, ...).
 */

import type { Readable } from 'node:stream';
import type { Entry } from '../protocol/messages.js';

export type RemotePath = readonly string[];

export interface ReadableFile {
  size: number;
  mtime: number;
  /** The bytes from `start` up to `end` (exclusive; default: the size when opened). */
  stream(start: number, end?: number): Readable;
  close(): Promise<void>;
}

/** An upload in progress: nothing is visible under its name until commit. */
export interface UploadTarget {
  write(chunk: Buffer): Promise<void>;
  /** Makes the data durable and visible under its name, atomically. */
  commit(sha256: string): Promise<void>;
  /** Forgets the data; safe to call more than once and after a failed commit. */
  abort(): Promise<void>;
}

export interface UploadOptions {
  size: number;
  noClobber: boolean;
}

/** One user's view of the store, jailed to their home. */
export interface HomeStorage {
  stat(path: RemotePath): Promise<Entry>;
  list(path: RemotePath, recursive: boolean): AsyncIterable<Entry>;
  openRead(path: RemotePath): Promise<ReadableFile>;
  beginUpload(path: RemotePath, options: UploadOptions): Promise<UploadTarget>;
  remove(path: RemotePath, recursive: boolean): Promise<void>;
  rename(from: RemotePath, to: RemotePath, noClobber: boolean): Promise<void>;
  mkdir(path: RemotePath): Promise<void>;
}

export interface Storage {
  /** Checks the store can be written to; creates what it needs. */
  open(): Promise<void>;
  /** Throws unless a small write succeeds now (for readiness checks). */
  checkWritable(): Promise<void>;
  forHome(home: RemotePath): Promise<HomeStorage>;
  close(): Promise<void>;
}
