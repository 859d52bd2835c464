/**
 * The raw limit: OpenBSD `nc` straight into a file (a folder goes through `tar`).
 * The listening side sends and the connecting side receives, because only the
 * connecting nc ends by itself at the end of the stream; the bytes flow the same
 * way either way. A transfer ends when both have exited (the file is written).
 */

import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CommandFailed, finish, freePort, run, start, waitListening, which, type Started } from '../lib/processes.js';
import { cpuOf, isFolder, type Peer, type Transfer, linkTree } from './peer.js';
import { BASELINE_LABELS } from '../lib/options.js';

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The OpenBSD netcat, whose -N and -d the transfers rely on. */
async function findOpenBsdNc(): Promise<string | undefined> {
  const named = which('nc.openbsd');
  if (named) return named;
  const plain = which('nc');
  if (!plain) return undefined;
  const help = await run(plain, ['-h'], { timeoutMs: 5000 }).catch((error: unknown) => (error instanceof CommandFailed ? error.result : undefined));
  return help && /OpenBSD/i.test(help.stderr + help.stdout) ? plain : undefined;
}

export class NetcatPeer implements Peer {
  readonly key = 'nc';
  readonly label = BASELINE_LABELS.nc;
  private readonly listeners = new Set<Started>();

  private constructor(
    private readonly nc: string,
    private readonly root: string,
    private readonly timeoutMs: number,
  ) {}

  static async start(workDir: string, timeoutMs: number): Promise<NetcatPeer> {
    const nc = await findOpenBsdNc();
    if (!nc) throw new Error('OpenBSD netcat is not installed (netcat-openbsd)');
    const root = join(workDir, 'root');
    await mkdir(join(root, 'stage'), { recursive: true });
    return new NetcatPeer(nc, root, timeoutMs);
  }

  /**
   * Readies a copy of `source` (file or folder) into `destDir`, under the same base
   * name. The listening end sends, so the client side (for CPU) is the sender of an
   * upload and the receiver of a download.
   */
  private async copy(source: string, destDir: string, direction: 'upload' | 'download'): Promise<Transfer> {
    await mkdir(destDir, { recursive: true });
    const port = await freePort();
    const nc = shellQuote(this.nc);
    const listen = `${nc} -N -l 127.0.0.1 ${port}`;
    const connect = `${nc} -d 127.0.0.1 ${port}`;
    const folder = await isFolder(source);
    const send = folder
      ? `set -o pipefail; tar -C ${shellQuote(dirname(source))} -cf - ${shellQuote(basename(source))} | ${listen}`
      : `exec ${listen} < ${shellQuote(source)}`;
    const receive = folder
      ? `set -o pipefail; ${connect} | tar -C ${shellQuote(destDir)} -xf -`
      : `exec ${connect} > ${shellQuote(join(destDir, basename(source)))}`;
    const sender = start('bash', ['-c', send], { cpu: true });
    this.listeners.add(sender);
    await waitListening(port, sender);
    return {
      go: async () => {
        try {
          const [received, sent] = await Promise.all([finish(start('bash', ['-c', receive], { cpu: true }), this.timeoutMs), finish(sender, this.timeoutMs)]);
          return direction === 'upload' ? { client: cpuOf(sent), server: cpuOf(received) } : { client: cpuOf(received), server: cpuOf(sent) };
        } finally {
          this.listeners.delete(sender);
          if (sender.running) await sender.stop();
        }
      },
    };
  }

  uploadedTo(tag: string): string {
    return join(this.root, tag);
  }

  prepareUpload(local: string, tag: string): Promise<Transfer> {
    return this.copy(local, this.uploadedTo(tag), 'upload');
  }

  async stage(local: string): Promise<void> {
    await linkTree(local, join(this.root, 'stage', basename(local)));
  }

  prepareDownload(name: string, destDir: string): Promise<Transfer> {
    return this.copy(join(this.root, 'stage', name), destDir, 'download');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.listeners].map((listener) => listener.stop()));
  }
}
