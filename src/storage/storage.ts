/**
 * The storage interface the server's command handlers talk to. Paths arrive as
 * checked segments (see protocol/paths.ts) relative to one user's home; each
 * backend keeps every operation inside that home and reports failures as
 * FerryErrors (NOT_FOUND, EXISTS, BAD_PATH, ...).
 */

import type { Readable } from 'node:stream';
import type { Entry, ResumeStatus } from '../protocol/messages.js';
import type { HomeLimits, Usage } from './quota.js';

export type RemotePath = readonly string[];

/**
 * What is held of an interrupted upload (a partial); `busy` when another connection
 * (perhaps in another worker) is writing it right now, so its bytes cannot be told yet.
 */
export type UploadStatus = ResumeStatus & { busy?: true };

export interface ReadableFile {
  size: number;
  mtime: number;
  /** The SHA-256 the store recorded for these bytes, when it knows it: a download checks it before its END. */
  sha256?: string | undefined;
  /** The bytes from `start` up to `end` (exclusive; default: the size when opened). */
  stream(start: number, end?: number): Readable;
  /**
   * Reads up to `into.length` bytes at `position` into the caller's buffer and says
   * how many came (0 at the end), so a reader can reuse its buffers rather than
   * take a new one per chunk as stream() does. Stores without positional reads leave it out.
   */
  readAt?(into: Buffer, position: number): Promise<number>;
  close(): Promise<void>;
}

/** An upload in progress: nothing is visible under its name until commit. */
export interface UploadTarget {
  /** Appends a chunk; the target folds it into the file's SHA-256 in the same pass. */
  write(chunk: Buffer): Promise<void>;
  /** SHA-256 of the whole file (a continued upload's held prefix included); once, after the last write. */
  digest(): Buffer;
  /** Makes the data durable and visible under its name, atomically. */
  commit(sha256: string): Promise<void>;
  /** Forgets the data; safe to call more than once and after a failed commit. */
  abort(): Promise<void>;
  /** The connection was lost: keeps what arrived (when resumable) for a later upload to continue. */
  suspend(): Promise<void>;
}

export interface UploadOptions {
  size: number;
  noClobber: boolean;
  /** Keep the data of an interrupted upload so that it can be continued. */
  resumable: boolean;
  /** Continue a partial: its first `offset` bytes, whose SHA-256 must be `prefixSha256`. */
  offset: number;
  prefixSha256: string;
  /** The modification time (ms since the epoch) the file keeps; the time of the commit when absent. */
  mtime?: number | undefined;
}

/** One user's view of the store, jailed to their home. */
export interface HomeStorage {
  stat(path: RemotePath): Promise<Entry>;
  list(path: RemotePath, recursive: boolean): AsyncIterable<Entry>;
  openRead(path: RemotePath): Promise<ReadableFile>;
  beginUpload(path: RemotePath, options: UploadOptions): Promise<UploadTarget>;
  /** How much of an interrupted upload of `path` with this size is held (offset 0 when none). */
  resumeStatus(path: RemotePath, size: number): Promise<UploadStatus>;
  remove(path: RemotePath, recursive: boolean): Promise<void>;
  rename(from: RemotePath, to: RemotePath, noClobber: boolean): Promise<void>;
  mkdir(path: RemotePath): Promise<void>;
  /** Sets a file's or folder's modification time (ms since the epoch), leaving its bytes alone. */
  setMtime(path: RemotePath, mtime: number): Promise<void>;
}

export interface Storage {
  /** Checks the store can be written to; creates what it needs. */
  open(): Promise<void>;
  /** Throws unless a small write succeeds now (for readiness checks). */
  checkWritable(): Promise<void>;
  /** Removes interrupted uploads untouched for longer than `maxAgeMs`; returns how many. */
  sweepPartials(maxAgeMs: number): Promise<number>;
  /**
   * Removes what uploads cut short by a crash left behind (temp data; resumable
   * partials stay). Only for the process that owns the upload ledger, before
   * anything is served; returns how many were removed.
   */
  recover(): Promise<number>;
  /** What a home holds, by a walk of it (`root` as the backend gives it to the ledger). */
  measure(root: string): Promise<Usage>;
  /** One user's view; `user` keys their interrupted uploads; `limits` bound what the home may hold. */
  forHome(home: RemotePath, user: string, limits?: HomeLimits): Promise<HomeStorage>;
  close(): Promise<void>;
}
