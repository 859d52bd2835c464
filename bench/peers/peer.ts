/**
 * What the bench asks of every server it measures (Ferry and each baseline): send a
 * file or a folder to it, put one there beforehand, fetch one back. Only `go` of a
 * prepared transfer is timed; a listener or a batch file is readied before it.
 */

import { link, mkdir, readdir, stat, copyFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Transfer {
  /** Moves the bytes; resolves once every process involved has finished. */
  go(): Promise<void>;
}

export interface Peer {
  /** Short name used in tags and --peers (ferry, rsync, ftp, sftp, nc, node). */
  readonly key: string;
  /** What the tables call it. */
  readonly label: string;
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
