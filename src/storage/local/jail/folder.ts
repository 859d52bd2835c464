/**
 * What the jail hands out: an open folder inside the home, through which names
 * are used (never through a path string), and where an entry is or is to be made.
 */

import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { FD_DIR } from './descriptors.js';
import type { JailCore } from './core.js';

/** An entry opened and checked: its descriptor, where it really is, and its fstat. */
export interface Opened {
  handle: FileHandle;
  real: string;
  stats: Stats;
}

/** A folder inside the home, held open: names in it are used through it, not through a path string. */
export class Folder {
  private closed = false;

  /**
   * `key` is where the folder is when reached by its path with no symlink on the
   * way (it may then be kept open for later requests); `release` ends a lease of a
   * kept folder instead of closing it.
   */
  constructor(
    private readonly jail: JailCore,
    readonly handle: FileHandle,
    private location: string,
    private readonly key?: string,
    private readonly release?: () => void,
  ) {}

  /** Where the folder was when last checked (before its first check: where the walk expects it). */
  get real(): string {
    return this.location;
  }

  /** The folder itself, as a path that leads to this open folder. */
  self(): string {
    return this.jail.verifiable ? `${FD_DIR}/${this.handle.fd}` : this.location;
  }

  /** A name in this folder, as a path the kernel resolves from this open folder. */
  at(name: string): string {
    return this.jail.verifiable ? `${FD_DIR}/${this.handle.fd}/${name}` : join(this.location, name);
  }

  /** Refuses unless the folder is still inside the home: call immediately before acting in it. */
  async recheck(path: readonly string[]): Promise<void> {
    this.location = await this.jail.locate(this.handle, path, this.location);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.release) return this.release();
    if (this.key !== undefined && this.location === this.key && this.jail.keepOpen(this.key, this.handle)) return;
    await this.handle.close().catch(() => undefined);
  }
}

/** Where an entry goes or is: its folder (open, checked) and its name there. */
export interface Place {
  folder: Folder;
  name: string;
}

/** Where an entry is to be made: the deepest existing folder on its way (open, checked) and the folders missing below it. */
export interface Planned {
  folder: Folder;
  /** Folders to make, in order, below `folder`. */
  missing: readonly string[];
  name: string;
  path: readonly string[];
}
