/** Folders kept open between requests, lent to the jail once checked again (see FolderCache). */

import type { FileHandle } from 'node:fs/promises';

/** A folder descriptor the cache holds, lent to any number of requests at once. */
interface HeldFolder {
  handle: FileHandle;
  leases: number;
  usedAt: number;
  /** Out of the cache: closed once the last lease ends. */
  dropped: boolean;
}

/**
 * Folders recently walked to, kept open by the path that named them, so that a burst
 * of requests in one folder (a thousand small uploads) does not open every folder on
 * the way and check it again for each file. A kept descriptor is the same folder
 * whatever happens to its path later, so it is lent out only after `readlink` of
 * `/proc/self/fd/N` still gives exactly the path it is kept under: a folder has one
 * name, so that proves the path names this folder now, with no symlink on the way
 * (a moved or deleted folder reads differently and is dropped). Every request
 * still checks its folder again immediately before it commits, renames or deletes.
 * Bounded in count, and a folder unused for `idleMs` is closed.
 */
export class FolderCache {
  private readonly held = new Map<string, HeldFolder>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly capacity = 64,
    private readonly idleMs = 2000,
  ) {}

  /** The folder kept under `key`, lent until `release`; undefined when none is kept. */
  lease(key: string): { handle: FileHandle; release: () => void } | undefined {
    const entry = this.held.get(key);
    if (!entry) return undefined;
    entry.leases++;
    entry.usedAt = Date.now();
    let released = false;
    return {
      handle: entry.handle,
      release: () => {
        if (released) return;
        released = true;
        entry.leases--;
        if (entry.dropped && entry.leases === 0) void entry.handle.close().catch(() => undefined);
      },
    };
  }

  /** Takes `handle` over under `key`; false (the caller keeps it) when a folder is kept there already. */
  keep(key: string, handle: FileHandle): boolean {
    // The kernel marks a deleted folder's path with this suffix: such a key could be taken for a deleted folder.
    if (this.held.has(key) || key.endsWith(' (deleted)')) return false;
    if (this.held.size >= this.capacity) {
      const oldest = this.held.keys().next().value;
      if (oldest !== undefined) this.drop(oldest);
    }
    this.held.set(key, { handle, leases: 0, usedAt: Date.now(), dropped: false });
    this.sweeper ??= setInterval(() => this.sweep(), this.idleMs).unref();
    return true;
  }

  /** Forgets the folder kept under `key` (if it is still `handle`, when given). */
  drop(key: string, handle?: FileHandle): void {
    const entry = this.held.get(key);
    if (!entry || (handle && entry.handle !== handle)) return;
    this.held.delete(key);
    entry.dropped = true;
    if (entry.leases === 0) void entry.handle.close().catch(() => undefined);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.held) if (entry.leases === 0 && now - entry.usedAt >= this.idleMs) this.drop(key);
    if (this.held.size === 0) this.clear();
  }

  /** Closes every kept folder (those lent out once their requests end). */
  clear(): void {
    for (const key of [...this.held.keys()]) this.drop(key);
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
