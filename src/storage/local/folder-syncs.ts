/** Folder fsyncs, shared by the commits that can share them. */

import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Group commit of folder fsyncs. A commit must not be reported before an fsync of
 * its folder that began after its rename; commits that arrive while such an fsync
 * has not begun yet share it, so a burst of small files in one folder costs a few
 * folder fsyncs instead of one each, with the same guarantee for every file.
 */
export class FolderSyncs {
  constructor(private readonly fsync: (dir: string) => Promise<void> = fsyncDir) {}

  /** Per folder: the fsync that has not begun yet (it covers every rename before it begins). */
  private readonly queued = new Map<string, Promise<void>>();
  /** Per folder: the fsync in progress. */
  private readonly running = new Map<string, Promise<void>>();

  /**
   * Resolves after an fsync of `dir` that began after this call. `viaHandle` (a
   * descriptor of that folder the caller holds open until this resolves) spares
   * opening the folder by its path again when this call's fsync is the one run.
   */
  sync(dir: string, viaHandle?: () => Promise<void>): Promise<void> {
    const waiting = this.queued.get(dir);
    if (waiting) return waiting;
    const before = this.running.get(dir) ?? Promise.resolve();
    const mine: Promise<void> = before
      .catch(() => undefined)
      .then(() => {
        this.queued.delete(dir); // From here on, newcomers need the fsync after this one.
        this.running.set(dir, mine);
        return viaHandle ? viaHandle() : this.fsync(dir);
      })
      .finally(() => {
        if (this.running.get(dir) === mine) this.running.delete(dir);
      });
    this.queued.set(dir, mine);
    return mine;
  }
}

/** One per process: fsync is about the file system, whichever storage object asks. */
export const folderSyncs = new FolderSyncs();
