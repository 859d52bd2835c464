/**
 * OpenSSH `sftp` in batch mode, one session per transfer, against an `sshd` started
 * for the run on a loopback port with a throwaway host key and a key pair made for
 * the run (no password, no system configuration touched).
 */

import { existsSync } from 'node:fs';
import { copyFile, mkdir, rmdir, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { basename, join } from 'node:path';
import { freePort, isRoot, run, start, waitListening, which, type Started } from '../lib/processes.js';
import { cpuOf, isFolder, linkTree, type Peer, type Transfer } from './peer.js';
import { BASELINE_LABELS } from '../lib/options.js';

/** sshd insists on its privilege separation folder when run as root. */
const PRIVSEP_DIR = '/run/sshd';

export class SftpPeer implements Peer {
  readonly key = 'sftp';
  readonly label = BASELINE_LABELS.sftp;
  private batches = 0;

  private constructor(
    private readonly workDir: string,
    private readonly root: string,
    private readonly port: number,
    private readonly clientKey: string,
    private readonly daemon: Started,
    private readonly madePrivsepDir: boolean,
    private readonly timeoutMs: number,
  ) {}

  static async start(workDir: string, timeoutMs: number): Promise<SftpPeer> {
    const sshd = which('sshd');
    if (!sshd) throw new Error('sshd is not installed (openssh-server)');
    const root = join(workDir, 'root');
    await mkdir(join(root, 'stage'), { recursive: true });
    const hostKey = join(workDir, 'host_key');
    const clientKey = join(workDir, 'client_key');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', clientKey]);
    await copyFile(`${clientKey}.pub`, join(workDir, 'authorized_keys'));
    const madePrivsepDir = isRoot && !existsSync(PRIVSEP_DIR);
    if (madePrivsepDir) await mkdir(PRIVSEP_DIR, { mode: 0o755 });
    const port = await freePort();
    const config = join(workDir, 'sshd_config');
    await writeFile(
      config,
      [
        'ListenAddress 127.0.0.1',
        `Port ${port}`,
        `HostKey ${hostKey}`,
        `PidFile ${join(workDir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(workDir, 'authorized_keys')}`,
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'PermitRootLogin prohibit-password',
        'Subsystem sftp internal-sftp',
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    const daemon = start(sshd, ['-D', '-e', '-f', config]);
    try {
      await waitListening(port, daemon);
    } catch (error) {
      if (madePrivsepDir) await rmdir(PRIVSEP_DIR).catch(() => undefined);
      throw error;
    }
    return new SftpPeer(workDir, root, port, clientKey, daemon, madePrivsepDir, timeoutMs);
  }

  /** Runs one sftp session with these batch commands. */
  private async session(commands: string[]): Promise<Transfer> {
    const batch = join(this.workDir, `batch-${++this.batches}`);
    await writeFile(batch, `${commands.join('\n')}\n`);
    const args = [
      '-q',
      '-F', '/dev/null',
      '-b', batch,
      '-P', String(this.port),
      '-i', this.clientKey,
      '-o', 'IdentitiesOnly=yes',
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'LogLevel=ERROR',
      `${userInfo().username}@127.0.0.1`,
    ];
    return { go: async () => ({ client: cpuOf(await run('sftp', args, { timeoutMs: this.timeoutMs, cpu: true })) }) };
  }

  get daemonPid(): number {
    return this.daemon.pid;
  }

  uploadedTo(tag: string): string {
    return join(this.root, tag);
  }

  async prepareUpload(local: string, tag: string): Promise<Transfer> {
    const dir = this.uploadedTo(tag);
    await mkdir(dir, { recursive: true });
    if (await isFolder(local)) return this.session([`put -r "${local}" "${dir}/"`]);
    return this.session([`put "${local}" "${join(dir, basename(local))}"`]);
  }

  async stage(local: string): Promise<void> {
    await linkTree(local, join(this.root, 'stage', basename(local)));
  }

  async prepareDownload(name: string, destDir: string): Promise<Transfer> {
    const remote = join(this.root, 'stage', name);
    if (await isFolder(remote)) return this.session([`get -r "${remote}" "${destDir}/"`]);
    return this.session([`get "${remote}" "${join(destDir, name)}"`]);
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
    if (this.madePrivsepDir) await rmdir(PRIVSEP_DIR).catch(() => undefined);
  }
}
