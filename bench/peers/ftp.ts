/**
 * A plain FTP server from Debian (vsftpd, anonymous with uploads allowed, chrooted
 * into its own folder) with `curl` for single files and `lftp mirror` for folders:
 * no integrity check at all, the speed ceiling of a plain protocol.
 */

import { chown, mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CommandFailed, freePort, isRoot, run, start, waitListening, type RunResult, type Started } from '../lib/processes.js';
import { cpuOf, isFolder, linkTree, type Peer, type Transfer } from './peer.js';
import { BASELINE_LABELS } from '../lib/options.js';

/** The uid and gid of the `ftp` account vsftpd serves anonymous users as. */
async function ftpAccount(): Promise<{ uid: number; gid: number } | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const fields = passwd.split('\n').find((line) => line.startsWith('ftp:'))?.split(':');
  return fields ? { uid: Number(fields[2]), gid: Number(fields[3]) } : undefined;
}

export class FtpPeer implements Peer {
  readonly key = 'ftp';
  readonly label = BASELINE_LABELS.ftp;

  private constructor(
    private readonly pub: string,
    private readonly port: number,
    private readonly account: { uid: number; gid: number },
    private readonly daemon: Started,
    private readonly timeoutMs: number,
  ) {}

  static async start(workDir: string, timeoutMs: number): Promise<FtpPeer> {
    if (!isRoot) throw new Error('vsftpd needs root (it chroots anonymous users)');
    const account = await ftpAccount();
    if (!account) throw new Error('there is no "ftp" account for anonymous FTP (the vsftpd package makes one)');
    // vsftpd refuses a chroot root that its user can write to: the root is root's, pub/ is ftp's.
    const root = join(workDir, 'root');
    const pub = join(root, 'pub');
    const empty = join(workDir, 'empty');
    await mkdir(join(pub, 'stage'), { recursive: true });
    await mkdir(empty, { recursive: true });
    await chmod(root, 0o755);
    await chown(pub, account.uid, account.gid);
    const port = await freePort();
    const config = join(workDir, 'vsftpd.conf');
    await writeFile(
      config,
      [
        'listen=YES',
        'listen_ipv6=NO',
        'listen_address=127.0.0.1',
        `listen_port=${port}`,
        'background=NO',
        'anonymous_enable=YES',
        'local_enable=NO',
        'no_anon_password=YES',
        'write_enable=YES',
        'anon_upload_enable=YES',
        'anon_mkdir_write_enable=YES',
        'anon_other_write_enable=YES',
        'anon_world_readable_only=NO',
        'anon_umask=022',
        `anon_root=${root}`,
        `secure_chroot_dir=${empty}`,
        'pasv_enable=YES',
        'pasv_address=127.0.0.1',
        'connect_from_port_20=NO',
        'seccomp_sandbox=NO',
        'isolate=NO',
        'isolate_network=NO',
        'xferlog_enable=NO',
        'dirmessage_enable=NO',
        'use_localtime=NO',
        '',
      ].join('\n'),
    );
    const daemon = start('vsftpd', [config]);
    await waitListening(port, daemon);
    return new FtpPeer(pub, port, account, daemon, timeoutMs);
  }

  private url(path: string): string {
    return `ftp://127.0.0.1:${this.port}/pub/${path}`;
  }

  private lftp(script: string): Promise<RunResult> {
    const settings = 'set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 30; set cmd:fail-exit yes';
    return run('lftp', ['-c', `${settings}; open -u anonymous,bench ftp://127.0.0.1:${this.port}; ${script}`], { timeoutMs: this.timeoutMs, cpu: true });
  }

  get daemonPid(): number {
    return this.daemon.pid;
  }

  uploadedTo(tag: string): string {
    return join(this.pub, tag);
  }

  async prepareUpload(local: string, tag: string): Promise<Transfer> {
    const dir = this.uploadedTo(tag);
    await mkdir(dir, { recursive: true });
    await chown(dir, this.account.uid, this.account.gid);
    const name = basename(local);
    if (await isFolder(local)) return { go: async () => ({ client: cpuOf(await this.lftp(`mirror -R --no-perms ${quote(local)} ${quote(`pub/${tag}/${name}`)}`)) }) };
    return { go: async () => ({ client: cpuOf(await run('curl', ['-sS', '-T', local, this.url(`${tag}/${name}`)], { timeoutMs: this.timeoutMs, cpu: true })) }) };
  }

  async stage(local: string): Promise<void> {
    await linkTree(local, join(this.pub, 'stage', basename(local)));
  }

  async prepareDownload(name: string, destDir: string): Promise<Transfer> {
    if (await isFolder(join(this.pub, 'stage', name))) {
      return { go: async () => ({ client: cpuOf(await this.lftp(`mirror --no-perms ${quote(`pub/stage/${name}`)} ${quote(join(destDir, name))}`)) }) };
    }
    return { go: async () => ({ client: cpuOf(await run('curl', ['-sS', '-o', join(destDir, name), this.url(`stage/${name}`)], { timeoutMs: this.timeoutMs, cpu: true })) }) };
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
  }
}

/** Quotes a path for lftp's command language. */
function quote(text: string): string {
  if (/["\\]/.test(text)) throw new CommandFailed('lftp', undefined, `cannot quote ${text}`);
  return `"${text}"`;
}
