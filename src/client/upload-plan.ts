/**
 * Uploading: what `ferry upload` sends and where each file lands (a walk of local
 * folders, remote paths always with `/`), then the files pipelined over one
 * connection, each resumable from a size on.
 */

import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { joinRemote } from '../protocol/paths.js';
import type { FerryClient } from './client.js';
import { inWindow, walkLocalTree, type WalkOptions } from './local-tree.js';
import { remoteHolds } from './same-content.js';
import { localError, PIPELINE_WINDOW, SILENT_REPORTER, type FileOutcome, type TransferPlan, type TransferReporter } from './transfer-plan.js';

/** Files from this size on are sent resumably (one extra round trip buys not re-sending them). */
const RESUMABLE_MIN_BYTES = 4 * 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;

/** The files and folders of local folder `root`, sent to `remoteRoot`. */
async function walkLocal(root: string, remoteRoot: string, plan: TransferPlan, options: WalkOptions): Promise<void> {
  const tree = await walkLocalTree(root, options);
  for (const entry of tree.entries) {
    const remote = entry.relative === '' ? remoteRoot : joinRemote(remoteRoot, entry.relative);
    if (entry.type === 'dir') {
      plan.folders.push(remote);
      (plan.folderTimes ??= []).push({ path: remote, mtime: entry.mtime });
    } else plan.files.push({ local: entry.local, remote, size: entry.size, mtime: entry.mtime });
  }
  for (const failure of tree.failures) plan.refused.push({ local: failure.local, remote: joinRemote(remoteRoot, failure.relative), size: 0, error: failure.error });
  if (tree.notices.length > 0) (plan.notices ??= []).push(...tree.notices);
}

/**
 * What `ferry upload a b folder -d dest` sends, and where each file lands; with
 * `as`, the one local file or folder lands under that remote name instead.
 */
export async function planUpload(locals: readonly string[], destDir: string, options: { as?: string } & WalkOptions = {}): Promise<TransferPlan> {
  const plan: TransferPlan = { files: [], folders: [], refused: [] };
  for (const local of locals) {
    const remote = options.as ?? joinRemote(destDir, basename(local));
    try {
      const stats = await stat(local);
      if (stats.isDirectory()) await walkLocal(local, remote, plan, options);
      else plan.files.push({ local, remote, size: stats.size, mtime: stats.mtimeMs });
    } catch (error) {
      plan.refused.push({ local, remote, size: 0, error: localError(error, local) });
    }
  }
  return plan;
}

export interface UploadPlanOptions {
  noClobber?: boolean;
  /** Leave out files the server already holds with the same size and SHA-256. */
  skipExisting?: boolean;
  reporter?: TransferReporter;
}

/**
 * Reads a small file whole (up to one byte past `size`, to see it grew) with direct
 * system calls. The client reads one small file after another for the user who
 * asked, nothing waits behind it but its own transfer: three calls that take
 * microseconds each cost less here than three round trips through the thread pool,
 * which made up most of the client's time per small file.
 */
function readSmallFile(path: string, size: number): Buffer {
  const buffer = Buffer.allocUnsafe(size + 1);
  const fd = openSync(path, 'r');
  try {
    let filled = 0;
    for (;;) {
      const got = readSync(fd, buffer, filled, buffer.length - filled, null);
      if (got === 0) break;
      filled += got;
      if (filled === buffer.length) break;
    }
    return buffer.subarray(0, filled);
  } finally {
    closeSync(fd);
  }
}

export async function uploadPlan(client: FerryClient, plan: TransferPlan, options: UploadPlanOptions = {}): Promise<FileOutcome[]> {
  const reporter = options.reporter ?? SILENT_REPORTER;
  // Folders first (empty ones included); files create their own parents anyway.
  await Promise.all(plan.folders.map((folder) => client.mkdir(folder)));
  const outcomes = await inWindow(plan.files, PIPELINE_WINDOW, async (job) => {
    const bar = reporter.file(job);
    const outcome: FileOutcome = { local: job.local, remote: job.remote, size: job.size };
    try {
      if (options.skipExisting && (await remoteHolds(client, job.remote, job.local, job.size))) {
        outcome.skipped = true;
        bar.finish(outcome);
        return outcome;
      }
      const result = await client.upload(
        job.remote,
        {
          size: job.size,
          open: (start = 0, end = job.size) =>
            start >= end ? Readable.from([]) : createReadStream(job.local, { start, end: end - 1, highWaterMark: READ_CHUNK_BYTES }),
          readAll: () => readSmallFile(job.local, job.size),
        },
        {
          noClobber: options.noClobber ?? false,
          resumable: job.size >= RESUMABLE_MIN_BYTES,
          ...(job.mtime !== undefined ? { mtime: job.mtime } : {}),
          onProgress: (done) => bar.progress(done),
        },
      );
      outcome.sha256 = result.sha256;
      if (result.offset > 0) outcome.resumedFrom = result.offset;
    } catch (error) {
      outcome.error = localError(error, job.local);
    }
    bar.finish(outcome);
    return outcome;
  });
  // Folder times last, once nothing more is written into them.
  if (client.supports('mtime')) {
    // Pipelined: setting one folder's time leaves its parent's alone.
    await Promise.all((plan.folderTimes ?? []).map((folder) => client.touch(folder.path, folder.mtime).catch(() => undefined)));
  }
  return [...plan.refused, ...outcomes];
}
