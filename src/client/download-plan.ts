/**
 * Downloading: what `ferry download` fetches and where each file lands locally
 * (every local path checked to lie inside the destination before anything is
 * written), then the files pipelined over one connection, each landed by
 * small-download.ts or part-file.ts.
 */

import { mkdir, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FerryError, ferryError } from '../protocol/errors.js';
import { joinRemote, remoteBaseName } from '../protocol/paths.js';
import type { FerryClient } from './client.js';
import { localNameProblem } from './local-names.js';
import { localPathInside } from './received-names.js';
import { localHolds } from './same-content.js';
import { downloadOne } from './part-file.js';
import { downloadSmall, SMALL_DOWNLOAD_MAX_BYTES } from './small-download.js';
import { localError, PIPELINE_WINDOW, SILENT_REPORTER, type FileOutcome, type TransferPlan, type TransferReporter } from './transfer-plan.js';
import { inWindow } from './local-tree.js';

/**
 * What `ferry download a folder -d dest` fetches, and where each file lands
 * locally; with `as`, the one remote file or folder lands under that local name.
 * Every name from the server was checked by the client library; each local path is
 * checked once more to lie inside the destination, all before anything is written.
 */
export async function planDownload(
  client: FerryClient,
  remotes: readonly string[],
  destDir: string,
  options: { as?: string } = {},
): Promise<TransferPlan> {
  const plan: TransferPlan = { files: [], folders: [], refused: [] };
  const into = options.as !== undefined ? dirname(options.as) : destDir;
  const add = (remote: string, relativeSegments: string[], size: number, mtime: number): void => {
    const problem = relativeSegments.map((segment) => localNameProblem(segment)).find((p) => p !== undefined);
    const local = localPathInside(into, relativeSegments);
    if (problem) plan.refused.push({ local, remote, size, error: ferryError('BAD_PATH', `${remote} cannot be saved here: ${problem}`) });
    else plan.files.push({ local, remote, size, mtime });
  };
  // An object store keeps no folder times (0): such folders keep the time of their download.
  const folderTime = (path: string, mtime: number): void => {
    if (mtime > 0) (plan.folderTimes ??= []).push({ path, mtime });
  };
  for (const remote of remotes) {
    const name = options.as !== undefined ? basename(options.as) : remoteBaseName(remote);
    let entry;
    try {
      entry = await client.stat(remote, { forDownload: true });
    } catch (error) {
      // A hostile answer fails the whole command, before anything is written.
      if (error instanceof FerryError && error.code === 'UNSAFE_NAME') throw error;
      plan.refused.push({ local: join(into, name), remote, size: 0, error: localError(error, remote) });
      continue;
    }
    if (entry.type === 'file') {
      add(remote, [name], entry.size, entry.mtime);
      continue;
    }
    const top = name === '' ? [] : [name];
    const topFolder = top.length > 0 ? localPathInside(into, top) : into;
    plan.folders.push(topFolder);
    folderTime(topFolder, entry.mtime);
    for (const child of await client.list(remote, { recursive: true })) {
      const segments = child.name.split('/');
      const childRemote = joinRemote(remote, child.name);
      if (child.type === 'dir') {
        if (!segments.some((segment) => localNameProblem(segment))) {
          const folder = localPathInside(into, [...top, ...segments]);
          plan.folders.push(folder);
          folderTime(folder, child.mtime);
        }
      } else {
        add(childRemote, [...top, ...segments], child.size, child.mtime);
      }
    }
  }
  return plan;
}

export interface DownloadPlanOptions {
  reporter?: TransferReporter;
  /** Keep a local file that already has the name, rather than replacing it. */
  noClobber?: boolean;
  /** Leave out files already here with the same size and SHA-256. */
  skipExisting?: boolean;
  /**
   * Sync each file, and its folder after the rename, to the disk before it is
   * reported, so a landed download survives a power loss too. Without it (as rsync,
   * scp and cp do) a file is verified and renamed into place, and the system writes
   * it out on its own schedule; see "Durability of downloads" in the README.
   */
  fsync?: boolean;
}

export async function downloadPlan(client: FerryClient, plan: TransferPlan, options: DownloadPlanOptions = {}): Promise<FileOutcome[]> {
  const reporter = options.reporter ?? SILENT_REPORTER;
  for (const folder of plan.folders) {
    await mkdir(folder, { recursive: true }).catch((error: unknown) => {
      throw localError(error, folder, 'write');
    });
  }
  const outcomes = await inWindow(plan.files, PIPELINE_WINDOW, async (job) => {
    const bar = reporter.file(job);
    let outcome: FileOutcome;
    try {
      if (options.skipExisting && (await localHolds(client, job.local, job.remote, job.size))) {
        outcome = { local: job.local, remote: job.remote, size: job.size, skipped: true };
        bar.finish(outcome);
        return outcome;
      }
      const noClobber = options.noClobber ?? false;
      const progress = (done: number): void => bar.progress(done);
      outcome =
        job.size <= SMALL_DOWNLOAD_MAX_BYTES && !options.fsync
          ? await downloadSmall(client, job, noClobber, progress)
          : await downloadOne(client, job, { noClobber, fsync: options.fsync ?? false }, progress);
    } catch (error) {
      outcome = { local: job.local, remote: job.remote, size: job.size, error: localError(error, job.local, 'write') };
    }
    bar.finish(outcome);
    return outcome;
  });
  // Folder times last, deepest first: each file landed in its folder changed the folder's time.
  for (const folder of [...(plan.folderTimes ?? [])].reverse()) await utimes(folder.path, new Date(), new Date(folder.mtime)).catch(() => undefined);
  return [...plan.refused, ...outcomes];
}
