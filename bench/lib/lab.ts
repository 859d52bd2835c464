/**
 * The bench's workplace for one run: a temporary folder, the fixtures, the servers
 * (Ferry in the layout a workload asks for, and the baselines, each started once on
 * loopback) and the list of wrong transfers. Closing it stops every server and
 * removes the folder.
 */

import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { installClient, packClient } from '../../build/client-package.js';
import { FerryPeer, type FerryLayout, type InstalledClient } from '../peers/ferry.js';
import { FtpPeer } from '../peers/ftp.js';
import { NetcatPeer } from '../peers/netcat.js';
import { NodePipePeer } from '../peers/node-pipe.js';
import type { Peer, SkippedPeer } from '../peers/peer.js';
import { RsyncPeer } from '../peers/rsync.js';
import { SftpPeer } from '../peers/sftp.js';
import { fixture, writeRandomFile, writeRandomFolder, type Fixture } from './fixtures.js';
import { BASELINE_LABELS, type BaselineKey, type BenchOptions } from './options.js';
import { ensurePrograms } from './packages.js';
import { measureSha256, type Sha256Cost } from './sha256-cost.js';

/** How each baseline starts, and the programs it needs. */
const BASELINES: Record<BaselineKey, { programs: string[]; start: (dir: string, timeoutMs: number) => Promise<Peer> }> = {
  rsync: { programs: ['rsync'], start: (dir, timeoutMs) => RsyncPeer.start(dir, timeoutMs) },
  'rsync-fsync': { programs: ['rsync'], start: (dir, timeoutMs) => RsyncPeer.start(dir, timeoutMs, true) },
  ftp: { programs: ['vsftpd', 'curl', 'lftp'], start: (dir, timeoutMs) => FtpPeer.start(dir, timeoutMs) },
  sftp: { programs: ['sshd', 'sftp', 'ssh-keygen'], start: (dir, timeoutMs) => SftpPeer.start(dir, timeoutMs) },
  nc: { programs: ['nc.openbsd', 'bash', 'tar'], start: (dir, timeoutMs) => NetcatPeer.start(dir, timeoutMs) },
  node: { programs: [], start: (dir, timeoutMs) => NodePipePeer.start(dir, timeoutMs) },
};

/** Generous: a transfer slower than 4 MB/s on loopback has hung. */
function transferTimeoutMs(bytes: number): number {
  return 120_000 + bytes / 4000;
}

export class Lab {
  /** Wrong transfers: the bench exits non-zero when there is any. */
  readonly failures: string[] = [];
  private ferryPeer: FerryPeer | undefined;
  private started: { peers: Peer[]; skipped: SkippedPeer[] } | undefined;
  private readonly fixtures = new Map<string, Promise<Fixture>>();
  private client: Promise<InstalledClient> | undefined;
  private readonly staged = new WeakMap<Peer, Set<string>>();
  private closed = false;

  private constructor(
    readonly options: BenchOptions,
    readonly workDir: string,
    readonly log: (line: string) => void,
    /** SHA-256's CPU cost here, measured at the start of the run (the CPU bar allows it on each end). */
    readonly sha256: Sha256Cost,
  ) {}

  static async open(options: BenchOptions, log: (line: string) => void): Promise<Lab> {
    const workDir = await mkdtemp(join(tmpdir(), 'ferry-bench-'));
    // Daemons that drop privileges (vsftpd, sshd's session) must be able to reach their folders.
    await chmod(workDir, 0o755);
    log(`working in ${workDir}`);
    // Whatever way the bench ends (an interrupt mid-workload included), the folder goes with it.
    if (!options.keep) process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
    const sha256 = measureSha256((options.quick ? 64 : 256) * 2 ** 20);
    log(`SHA-256 (node:crypto, one core): ${sha256.gibPerSecond.toFixed(2)} GiB/s, ${sha256.secondsPerGib.toFixed(2)} CPU s per GiB`);
    return new Lab(options, workDir, log, sha256);
  }

  fail(what: string): void {
    this.failures.push(what);
    this.log(`WRONG TRANSFER: ${what}`);
  }

  /** A folder of its own under the workplace. */
  async dir(...parts: string[]): Promise<string> {
    const dir = join(this.workDir, ...parts);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /**
   * The client package as a user installs it (`npm install -g` of the packed tarball,
   * here into a prefix in the workplace), once per run: W7 and W7v both time it.
   */
  installedClient(): Promise<InstalledClient> {
    this.client ??= (async () => {
      const dir = await this.dir('client-install');
      const command = await installClient(await packClient(dir), join(dir, 'prefix'), dir);
      this.log(`client package installed: ${command}`);
      return { command, dir };
    })();
    return this.client;
  }

  /** The Ferry server in this layout; a server in the other layout is stopped first (one at a time). */
  async ferry(layout: FerryLayout): Promise<FerryPeer> {
    if (this.ferryPeer?.layout === layout) return this.ferryPeer;
    await this.stopFerry();
    const bytes = this.options.sizes.bigFileBytes;
    this.ferryPeer = await FerryPeer.start(layout, join(this.workDir, `ferry-${layout}`), transferTimeoutMs(bytes), this.options.ferryNodeArgs);
    this.log(`Ferry server started (${layout === 'single' ? 'FERRY_WORKERS=0' : 'default cluster'}, port ${this.ferryPeer.port})`);
    return this.ferryPeer;
  }

  private async stopFerry(): Promise<void> {
    const peer = this.ferryPeer;
    this.ferryPeer = undefined;
    if (!peer) return;
    await peer.stop();
    // Its data folder can be large (staged copies): free the disk now.
    await rm(peer.dataDir, { recursive: true, force: true });
  }

  /** The baselines, started on first use (installing missing programs when root). */
  async baselines(): Promise<{ peers: Peer[]; skipped: SkippedPeer[] }> {
    if (this.started) return this.started;
    const wanted = this.options.baselines;
    // GNU time measures every client's CPU (and the per-transfer servers of nc and the Node pipe).
    if (this.options.install) await ensurePrograms([...new Set(['time', ...wanted.flatMap((key) => BASELINES[key].programs)])], this.log);
    const peers: Peer[] = [];
    const skipped: SkippedPeer[] = [];
    for (const key of wanted) {
      const { start } = BASELINES[key];
      const label = BASELINE_LABELS[key];
      try {
        peers.push(await start(await this.dir('peers', key), transferTimeoutMs(this.options.sizes.bigFileBytes)));
        this.log(`${label} started`);
      } catch (error) {
        const reason = (error as Error).message.split('\n').slice(0, 3).join(' / ');
        skipped.push({ key, label, reason });
        this.log(`${label} SKIPPED: ${reason}`);
      }
    }
    this.started = { peers, skipped };
    return this.started;
  }

  /** Makes a fixture once (by name) and remembers its digests. */
  private made(name: string, make: (path: string) => Promise<void>, bytes: number, files: number): Promise<Fixture> {
    let made = this.fixtures.get(name);
    if (!made) {
      made = (async () => {
        const path = join(await this.dir('src'), name);
        await make(path);
        return fixture(path, bytes, files);
      })();
      this.fixtures.set(name, made);
    }
    return made;
  }

  bigFile(): Promise<Fixture> {
    const bytes = this.options.sizes.bigFileBytes;
    return this.made('big.bin', (path) => writeRandomFile(path, bytes), bytes, 1);
  }

  smallFilesFolder(): Promise<Fixture> {
    const { folderFiles, folderFileBytes } = this.options.sizes;
    return this.made('small-files', (path) => writeRandomFolder(path, folderFiles, folderFileBytes), folderFiles * folderFileBytes, folderFiles);
  }

  parallelFile(index: number): Promise<Fixture> {
    const bytes = this.options.sizes.parallelFileBytes;
    return this.made(`parallel-${index}.bin`, (path) => writeRandomFile(path, bytes), bytes, 1);
  }

  listedFolder(): Promise<Fixture> {
    const entries = this.options.sizes.lsEntries;
    return this.made('listed', (path) => writeRandomFolder(path, entries, 1024), entries * 1024, entries);
  }

  probeFile(): Promise<Fixture> {
    return this.made('probe.txt', (path) => writeRandomFile(path, 1024), 1024, 1);
  }

  /** Puts a fixture on a peer for downloads, once. */
  async stage(peer: Peer, item: Fixture): Promise<void> {
    const names = this.staged.get(peer) ?? new Set<string>();
    this.staged.set(peer, names);
    if (names.has(basename(item.path))) return;
    await peer.stage(item.path);
    names.add(basename(item.path));
  }

  /** Writes dirty pages out before a timed run, so one run's write-back does not slow the next. */
  settle(): void {
    spawnSync('sync', { stdio: 'ignore' });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stopFerry().catch((error: unknown) => this.log(`stopping Ferry: ${(error as Error).message}`));
    for (const peer of this.started?.peers ?? []) {
      await peer.stop().catch((error: unknown) => this.log(`stopping ${peer.label}: ${(error as Error).message}`));
    }
    if (this.options.keep) this.log(`kept ${this.workDir}`);
    else await rm(this.workDir, { recursive: true, force: true });
  }
}
