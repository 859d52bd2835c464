/**
 * What the bench asks of every server it measures (Ferry and each baseline): send a
 * file or a folder to it, put one there beforehand, fetch one back. Only `go` of a
 * prepared transfer is timed; a listener or a batch file is readied before it.
 */

import { link, mkdir, readdir, stat, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunResult } from '../lib/processes.js';

/** CPU seconds (user + system) that the processes of one transfer used; undefined where unmeasured (no GNU time). */
export interface TransferCpu {
  client: number | undefined;
  /** Only for a peer whose server end is a process per transfer (nc, the Node pipe); a daemon is measured by its process tree. */
  server?: number | undefined;
}

export interface Transfer {
  /** Moves the bytes; resolves once every process involved has finished, with the CPU they used. */
  go(): Promise<TransferCpu>;
}

/** The summed CPU of finished processes, undefined unless every one was measured. */
export function cpuOf(...results: readonly RunResult[]): number | undefined {
  let sum = 0;
  for (const result of results) {
    if (result.cpuSeconds === undefined) return undefined;
    sum += result.cpuSeconds;
  }
  return sum;
}

export interface Peer {
  /** Short name used in tags and --peers (ferry, rsync, ftp, sftp, nc, node). */
  readonly key: string;
  /** What the tables call it. */
  readonly label: string;
  /**
   * The long-lived server process, if any: the server side's CPU is that of its
   * process tree, per-connection children included, over each transfer.
   */
  readonly daemonPid?: number;
  /** The folder on this machine where an upload tagged `tag` lands. */
  uploadedTo(tag: string): string;
  /** Readies sending `local` (a file or a folder) so that it lands as uploadedTo(tag)/basename(local). */
  prepareUpload(local: string, tag: string): Promise<Transfer>;
  /** Puts `local` on the server, untimed, for prepareDownload to fetch by its base name. */
  stage(local: string): Promise<void>;
  /** Readies fetching the staged item `name` into `destDir/name`. */
  prepareDownload(name: string, destDir: string): Promise<Transfer>;
  stop(): Promise<void>;
}

/** A peer that could not be started, and why; the tables say so instead of a figure. */
export interface SkippedPeer {
  key: string;
  label: string;
  reason: string;
}

export async function isFolder(path: string): Promise<boolean> {
  return (await stat(path)).isDirectory();
}

/** Hard-links (or copies, across file systems) a file or folder to `dest`, so staging costs no disk. */
export async function linkTree(source: string, dest: string): Promise<void> {
  if (!(await isFolder(source))) {
    await link(source, dest).catch(() => copyFile(source, dest));
    return;
  }
  await mkdir(dest, { recursive: true });
  for (const entry of await readdir(source)) await linkTree(join(source, entry), join(dest, entry));
}
