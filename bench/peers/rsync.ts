/**
 * rsync in daemon mode on loopback (`rsync://`), the peer Ferry must beat on equal
 * terms: it checks every transferred file against a whole-file checksum by itself.
 * The client runs a plain `rsync -a`; the `--fsync` variant adds `--fsync`, which the
 * client forwards to the receiving side (the daemon on an upload), so each file is
 * on disk before rsync moves on: the durability Ferry promises.
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { freePort, run, start, waitListening, isRoot, type Started } from '../lib/processes.js';
import { cpuOf, linkTree, type Peer, type Transfer } from './peer.js';
import { BASELINE_LABELS } from '../lib/options.js';

export class RsyncPeer implements Peer {
  readonly key: 'rsync' | 'rsync-fsync';
  readonly label: string;

  private constructor(
    private readonly root: string,
    private readonly port: number,
    private readonly daemon: Started,
    private readonly timeoutMs: number,
    private readonly fsync: boolean,
  ) {
    this.key = fsync ? 'rsync-fsync' : 'rsync';
    this.label = BASELINE_LABELS[this.key];
  }

  static async start(workDir: string, timeoutMs: number, fsync = false): Promise<RsyncPeer> {
    if (fsync && !(await run('rsync', ['--help'], { timeoutMs: 10_000 })).stdout.includes('--fsync')) {
      throw new Error('this rsync has no --fsync (it came in rsync 3.2.4)');
    }
    const root = join(workDir, 'root');
    await mkdir(join(root, 'stage'), { recursive: true });
    const config = join(workDir, 'rsyncd.conf');
    const owner = isRoot ? 'uid = root\ngid = root\n' : '';
    await writeFile(
      config,
      `use chroot = no\n${owner}pid file = ${join(workDir, 'rsyncd.pid')}\nlog file = ${join(workDir, 'rsyncd.log')}\n` +
        `[bench]\npath = ${root}\nread only = false\n`,
    );
    const port = await freePort();
    const daemon = start('rsync', ['--daemon', '--no-detach', '--address=127.0.0.1', '--port', String(port), '--config', config]);
    await waitListening(port, daemon);
    return new RsyncPeer(root, port, daemon, timeoutMs, fsync);
  }

  get daemonPid(): number {
    return this.daemon.pid;
  }

  private url(path: string): string {
    return `rsync://127.0.0.1:${this.port}/bench/${path}`;
  }

  private transfer(from: string, to: string): Transfer {
    const args = ['-a', ...(this.fsync ? ['--fsync'] : []), from, to];
    return { go: async () => ({ client: cpuOf(await run('rsync', args, { timeoutMs: this.timeoutMs, cpu: true })) }) };
  }

  uploadedTo(tag: string): string {
    return join(this.root, tag);
  }

  async prepareUpload(local: string, tag: string): Promise<Transfer> {
    return this.transfer(local, this.url(`${tag}/`));
  }

  async stage(local: string): Promise<void> {
    await linkTree(local, join(this.root, 'stage', basename(local)));
  }

  async prepareDownload(name: string, destDir: string): Promise<Transfer> {
    return this.transfer(this.url(`stage/${name}`), `${destDir}/`);
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
  }
}
