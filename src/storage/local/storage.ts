/**
 * Local-disk storage. Files live under `<dataDir>/files`; uploads in flight live
 * under `<dataDir>/tmp` (same file system, outside every user's tree) until they
 * are fsynced and renamed into place. Every path goes through the jail
 * (./jail/), which checks open descriptors rather than path strings, so neither
 * a symlink nor a tree changed underneath can lead a request outside the home.
 * This is the backend's whole: its folders, sweeps and homes (./home.ts).
 */

import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, realpath, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { ferryError } from '../../protocol/errors.js';
import { formatRemotePath } from '../../protocol/paths.js';
import { LedgerBooks, type UploadLedger } from '../ledger.js';
import { NO_LIMITS, type HomeLimits, type Usage } from '../quota.js';
import type { HomeStorage, RemotePath, Storage } from '../storage.js';
import { fileDigestCache } from './digests.js';
import { storageError } from './errors.js';
import { LocalHome } from './home.js';
import { canVerifyDescriptors, FolderCache, isInside, Jail, type SymlinkPolicy } from './jail/index.js';
import { PartialUploads } from './partials.js';
import { addTreeUsage } from './usage.js';

export interface LocalStorageOptions {
  dataDir: string;
  /**
   * Files no home may reach, whatever the configuration (the users file, the TLS
   * key and certificate); the folders of uploads in flight are always protected.
   */
  protectedPaths?: readonly string[];
  /** Follow symlinks in homes that lead inside the home (`inside`, the default) or refuse them all. */
  symlinks?: SymlinkPolicy;
}

/** The real path `path` has or would have once created (its folder resolved), for comparisons. */
async function realPathOf(path: string): Promise<string> {
  return realpath(path).catch(async () => join(await realpath(dirname(path)).catch(() => dirname(path)), basename(path)));
}

export class LocalStorage implements Storage {
  readonly filesDir: string;
  readonly tmpDir: string;
  readonly partials: PartialUploads;
  private filesRoot = '';
  private protectedPaths: readonly string[] = [];
  private verifiable = false;
  private readonly symlinks: SymlinkPolicy;
  private readonly guarded: readonly string[];
  private readonly digests = fileDigestCache();
  /** Folders kept open between requests, for every home of this storage. */
  private readonly folders = new FolderCache();
  private readonly ledger: UploadLedger;

  /** Without a `ledger`, this storage keeps its own books (a server of one process). */
  constructor(options: LocalStorageOptions, ledger?: UploadLedger) {
    this.filesDir = join(options.dataDir, 'files');
    this.tmpDir = join(options.dataDir, 'tmp');
    this.ledger = ledger ?? new LedgerBooks((root) => this.measure(root)).as('self');
    this.partials = new PartialUploads(join(options.dataDir, 'partial'), this.ledger);
    this.symlinks = options.symlinks ?? 'inside';
    this.guarded = [...(options.protectedPaths ?? []), this.tmpDir, join(options.dataDir, 'partial')];
  }

  async open(): Promise<void> {
    await mkdir(this.filesDir, { recursive: true });
    await mkdir(this.tmpDir, { recursive: true });
    await this.partials.open();
    this.filesRoot = await realpath(this.filesDir);
    this.protectedPaths = await Promise.all(this.guarded.filter((path) => path !== '').map(realPathOf));
    this.verifiable = await canVerifyDescriptors(this.filesRoot);
  }

  async sweepPartials(maxAgeMs: number): Promise<number> {
    let removed = await this.partials.sweep(maxAgeMs);
    // Temp files of uploads that cannot be resumed: left only by a process that died.
    const now = Date.now();
    for (const name of await readdir(this.tmpDir).catch(() => [])) {
      const file = join(this.tmpDir, name);
      const stats = await stat(file).catch(() => undefined);
      if (stats && now - stats.mtimeMs >= maxAgeMs && (await unlink(file).then(() => true, () => false))) removed++;
    }
    return removed;
  }

  async recover(): Promise<number> {
    let removed = await this.partials.recover();
    // Every temp file belongs to an upload of a process that no longer runs: none runs yet.
    for (const name of await readdir(this.tmpDir).catch(() => [])) {
      if (await unlink(join(this.tmpDir, name)).then(() => true, () => false)) removed++;
    }
    return removed;
  }

  async measure(root: string): Promise<Usage> {
    // The ledger knows a home by its real path ending in the separator.
    const home = root.endsWith(sep) && root !== sep ? root.slice(0, -1) : root;
    const jail = new Jail({ root: home, protectedPaths: this.protectedPaths, symlinks: 'refuse', verifiable: this.verifiable });
    const top = await jail.folder([]);
    const usage = { bytes: 0, entries: 0 };
    try {
      await addTreeUsage(jail, top, [], usage);
    } finally {
      await top.close();
    }
    return usage;
  }

  async checkWritable(): Promise<void> {
    const probe = join(this.tmpDir, `ready-${randomUUID()}.probe`);
    const handle = await open(probe, 'wx');
    try {
      await handle.write('ok');
    } finally {
      await handle.close();
      await unlink(probe).catch(() => undefined);
    }
  }

  async forHome(home: RemotePath, user: string, limits: HomeLimits = NO_LIMITS): Promise<HomeStorage> {
    const dir = join(this.filesRoot, ...home);
    try {
      await mkdir(dir, { recursive: true });
      const root = await realpath(dir);
      if (!isInside(this.filesRoot, root)) {
        throw ferryError('BAD_PATH', `the home folder ${formatRemotePath(home)} leads outside the storage root`);
      }
      const jail = new Jail({ root, protectedPaths: this.protectedPaths, symlinks: this.symlinks, verifiable: this.verifiable, folders: this.folders });
      return new LocalHome(root, jail, this.tmpDir, this.digests, { ledger: this.ledger, limits }, this.partials, (path, size) =>
        this.partials.key(user, formatRemotePath(home), formatRemotePath(path), size),
      );
    } catch (error) {
      throw storageError(error, home);
    }
  }

  async close(): Promise<void> {
    this.folders.clear();
  }
}
