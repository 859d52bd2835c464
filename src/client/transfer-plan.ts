/**
 * What moving files is made of, for uploads and downloads alike: the plan (files,
 * folders, what was refused while planning), each file's outcome, the reporter
 * that draws progress, and local failures told with the file they concern.
 */

import { dirname, relative, sep } from 'node:path';
import { FerryError, ferryError, systemErrorCode } from '../protocol/errors.js';

/** Requests kept in flight on one connection; bounds memory for huge batches. */
export const PIPELINE_WINDOW = 64;

export interface FileJob {
  local: string;
  remote: string;
  size: number;
  /** The source's modification time (ms since the epoch), kept by the copy. */
  mtime?: number;
}

/** A folder's time, set once everything inside it is in place (writing into a folder changes its time). */
interface FolderTime {
  path: string;
  mtime: number;
}

export interface TransferPlan {
  files: FileJob[];
  /** Folders to create (remote for uploads, local for downloads), parents first. */
  folders: string[];
  /** Files that cannot be transferred, found while planning. */
  refused: FileOutcome[];
  /** Times for the folders (remote for uploads, local for downloads), parents first. */
  folderTimes?: FolderTime[];
  /** What planning passed over and why (symbolic links), for the user to read. */
  notices?: string[];
}

export interface FileOutcome {
  local: string;
  remote: string;
  size: number;
  sha256?: string;
  /** Bytes already in place when the transfer continued an interrupted one. */
  resumedFrom?: number;
  /** A download that replaced a local file of the same name. */
  replaced?: boolean;
  /** Not sent: the other end already held the same bytes (--skip-existing). */
  skipped?: boolean;
  error?: FerryError;
}

/** Receives progress; the CLI draws bars with it, tests and --json ignore it. Whoever runs a plan calls start and stop. */
export interface TransferReporter {
  start(totalFiles: number, totalBytes: number): void;
  file(job: FileJob): { progress(bytesDone: number): void; finish(outcome: FileOutcome): void };
  stop(): void;
}

export const SILENT_REPORTER: TransferReporter = {
  start: () => undefined,
  file: () => ({ progress: () => undefined, finish: () => undefined }),
  stop: () => undefined,
};


/**
 * A local failure as a FerryError that names the file and the way out. A read
 * failure the client library already wrapped is looked at again for its cause.
 */
export function localError(error: unknown, path: string, doing: 'read' | 'write' = 'read'): FerryError {
  if (error instanceof FerryError && (error.code !== 'LOCAL_IO' || systemErrorCode(error.cause) === undefined)) return error;
  const cause = error instanceof FerryError ? error.cause : error;
  const code = systemErrorCode(cause);
  if (code === 'ENOENT' && doing === 'read') return ferryError('NOT_FOUND', `${path} does not exist on this computer`, cause);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    const why = code === 'EROFS' ? 'is on a read-only file system' : 'is not writable (permission denied)';
    if (doing === 'write') {
      return ferryError('PERMISSION_DENIED', `cannot write ${path}: its folder ${dirname(path)} ${why}; download into another folder with -d DIR, or make it writable`, cause);
    }
    return ferryError('PERMISSION_DENIED', `cannot read ${path} (permission denied); check its permissions, or leave it out`, cause);
  }
  return ferryError('LOCAL_IO', `${path}: ${(cause as Error).message}`, cause);
}

/** A local path shown relative to the working folder when that is shorter. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel.length < path.length ? rel : path;
}
