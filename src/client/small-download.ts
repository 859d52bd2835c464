/**
 * Small downloads, the common case of many files: held in memory until verified,
 * then written and put in place by direct system calls, with no part file left
 * behind on failure.
 */

import { closeSync, existsSync, futimesSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { exists } from '../io/exists.js';
import { systemErrorCode } from '../protocol/errors.js';
import type { FerryClient } from './client.js';
import type { DownloadSink } from './download.js';
import { keptError, landPart, partPathOf } from './part-file.js';
import { localError, type FileJob, type FileOutcome } from './transfer-plan.js';

/** Downloads up to this size are held in memory until verified, then written at once (64 in flight: 8 MiB at most). */
export const SMALL_DOWNLOAD_MAX_BYTES = 128 * 1024;

/** Holds a small download in memory; one that outgrows the small size changed on the server since it was listed. */
class MemorySink implements DownloadSink {
  readonly chunks: Buffer[] = [];
  private bytes = 0;

  write(chunk: Buffer): Promise<void> {
    this.bytes += chunk.length;
    if (this.bytes > SMALL_DOWNLOAD_MAX_BYTES) return Promise.reject(new Error('the file grew on the server since it was listed; download it again'));
    this.chunks.push(chunk);
    return Promise.resolve();
  }
}

/**
 * Writes a verified small download to its part file, with the server's time, by
 * direct system calls: for a file of a few KiB they take microseconds, where each
 * round trip through the thread pool cost the client more than the call itself
 * (the same reasoning as readSmallFile). Its folder is made only if it is missing.
 */
function writeSmallPart(part: string, local: string, chunks: readonly Buffer[], mtime: number): void {
  let fd: number;
  try {
    fd = openSync(part, 'w');
  } catch (error) {
    if (systemErrorCode(error) !== 'ENOENT') throw error;
    mkdirSync(dirname(local), { recursive: true });
    fd = openSync(part, 'w');
  }
  try {
    const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
    // The file keeps the server's time, set before it takes its name so it never shows another.
    if (mtime > 0) futimesSync(fd, new Date(), new Date(mtime));
  } finally {
    closeSync(fd);
  }
}

/**
 * A small file that is not to be synced: received into memory, verified, then
 * written beside its destination and renamed into place. Nothing is written before
 * it is verified, so it leaves no part file behind (nor continues one: re-fetching
 * a few KiB is cheaper than looking one up).
 */
export async function downloadSmall(client: FerryClient, job: FileJob, noClobber: boolean, progress: (done: number) => void): Promise<FileOutcome> {
  if (noClobber && (await exists(job.local))) throw keptError(job.local);
  const sink = new MemorySink();
  const result = await client.download(job.remote, sink, { onProgress: progress });
  const part = partPathOf(job.local);
  let replaced: boolean;
  try {
    writeSmallPart(part, job.local, sink.chunks, result.mtime);
    if (noClobber) replaced = (await landPart(part, job.local, true)).replaced;
    else {
      replaced = existsSync(job.local);
      renameSync(part, job.local);
    }
  } catch (error) {
    try {
      unlinkSync(part);
    } catch {
      // Never made, or already gone.
    }
    throw localError(error, job.local, 'write');
  }
  const outcome: FileOutcome = { local: job.local, remote: job.remote, size: result.size, sha256: result.sha256 };
  if (replaced) outcome.replaced = true;
  return outcome;
}
