/**
 * Ferry itself: the built `ferry-server` started on loopback with its own data
 * folder, and the built `ferry` command line as the client (a whole process per
 * transfer, as a user would run it).
 */

import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { get } from 'node:http';
import { basename, delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnectOptions } from '../../src/client/client.js';
import { KnownHosts } from '../../src/client/known-hosts.js';
import { certificateFingerprint } from '../../src/protocol/fingerprint.js';
import { FERRY_BIN, REPO_ROOT, SERVER_BIN } from '../lib/paths.js';
import { CommandFailed, freePort, run, start, type Started } from '../lib/processes.js';
import type { Peer, Transfer, TransferCpu } from './peer.js';

export type FerryLayout = 'single' | 'cluster';

/** An installed client package's `ferry` command, and the folder it was installed from. */
export interface InstalledClient {
  command: string;
  dir: string;
}

/** PATH as a shell that finds an installed `ferry` has it: its folder, then the node running the bench (its `#!` line asks env for node). */
export function installedPath(client: InstalledClient): string {
  return [dirname(client.command), dirname(process.execPath), process.env.PATH ?? ''].join(delimiter);
}

/** The environment without any FERRY_* the caller's shell may carry. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('FERRY_')) delete env[key];
  return env;
}

function readyz(port: number): Promise<number> {
  return new Promise((resolve) => {
    const request = get({ host: '127.0.0.1', port, path: '/readyz', timeout: 1000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', () => resolve(0));
    request.on('timeout', () => request.destroy());
  });
}

export class FerryPeer implements Peer {
  readonly key = 'ferry';
  readonly label = 'Ferry';
  readonly user = 'admin';

  private constructor(
    readonly layout: FerryLayout,
    readonly port: number,
    /** The ops HTTP port (/metrics, /readyz). */
    readonly opsPort: number,
    readonly dataDir: string,
    readonly password: string,
    /** The certificate the server made at its first start (TLS is the default): clients pin it as given. */
    readonly fingerprint: string,
    readonly server: Started,
    private readonly timeoutMs: number,
    private readonly nodeArgs: readonly string[],
  ) {}

  /** Starts a server: one process (FERRY_WORKERS=0) or the default cluster; `nodeArgs` go to every Ferry process (workers inherit them). */
  static async start(layout: FerryLayout, dataDir: string, timeoutMs: number, nodeArgs: readonly string[] = []): Promise<FerryPeer> {
    await mkdir(dataDir, { recursive: true });
    const [port, opsPort] = [await freePort(), await freePort()];
    const password = `bench-${randomBytes(9).toString('base64url')}`;
    const env: NodeJS.ProcessEnv = {
      ...cleanEnv(),
      FERRY_HOST: '127.0.0.1',
      FERRY_PORT: String(port),
      FERRY_OPS_HOST: '127.0.0.1',
      FERRY_OPS_PORT: String(opsPort),
      FERRY_DATA_DIR: dataDir,
      FERRY_ADMIN_PASSWORD: password,
      FERRY_MDNS: 'false',
      // The baselines move files over TCP; the web path has its own benchmark (bench/web.ts).
      FERRY_WEB: 'false',
      FERRY_LOG_LEVEL: 'warn',
      ...(layout === 'single' ? { FERRY_WORKERS: '0' } : {}),
    };
    const server = start(process.execPath, [...nodeArgs, SERVER_BIN, 'start'], { env, cwd: REPO_ROOT });
    const deadline = Date.now() + 30_000;
    while ((await readyz(opsPort)) !== 200) {
      if (!server.running) throw new CommandFailed('ferry-server start', await server.exited, 'exited before it was ready');
      if (Date.now() > deadline) {
        await server.stop();
        throw new CommandFailed('ferry-server start', undefined, '/readyz did not answer 200 within 30 s');
      }
      await sleep(50);
    }
    const fingerprint = certificateFingerprint(new X509Certificate(await readFile(join(dataDir, 'tls', 'cert.pem'))));
    return new FerryPeer(layout, port, opsPort, dataDir, password, fingerprint, server, timeoutMs, nodeArgs);
  }

  /** The storage root on disk, where uploads land. */
  get filesDir(): string {
    return join(this.dataDir, 'files');
  }

  /** The environment a `ferry` command needs to reach this server as admin. */
  get clientEnv(): NodeJS.ProcessEnv {
    return {
      ...cleanEnv(),
      FERRY_SERVER: `127.0.0.1:${this.port}`,
      FERRY_USER: this.user,
      FERRY_PASSWORD: this.password,
      FERRY_FINGERPRINT: this.fingerprint,
      FERRY_KNOWN_HOSTS: join(this.dataDir, 'known_hosts'),
    };
  }

  /** How a library client reaches this server from `localAddress`. */
  address(localAddress: string): ConnectOptions {
    const knownHosts = new KnownHosts(join(this.dataDir, 'known_hosts'));
    const tls = { kind: 'pin' as const, knownHosts, expected: { fingerprint: this.fingerprint, source: 'user' as const }, approve: () => Promise.resolve(false) };
    return { host: '127.0.0.1', port: this.port, localAddress, tls };
  }

  /** Runs the `ferry` command line with `args` against this server, its CPU measured (GNU time around it). */
  ferry(args: readonly string[], timeoutMs = this.timeoutMs) {
    return run(process.execPath, [...this.nodeArgs, FERRY_BIN, '-q', ...args], { env: this.clientEnv, timeoutMs, cpu: true });
  }

  /**
   * Runs `ferry` with `args` against this server with nothing around it, for timing
   * the whole process: the built one from this clone, or `installed`, a client
   * package's command, as a shell runs it (found through its `#!` line and PATH).
   */
  ferryAlone(args: readonly string[], installed?: InstalledClient, timeoutMs = this.timeoutMs) {
    if (installed === undefined) return run(process.execPath, [...this.nodeArgs, FERRY_BIN, '-q', ...args], { env: this.clientEnv, timeoutMs });
    const env = { ...this.clientEnv, PATH: installedPath(installed) };
    // Node's own flags (--cpu-prof) cannot reach it through a `#!` line, nor through NODE_OPTIONS.
    if (this.nodeArgs.length > 0) return run(process.execPath, [...this.nodeArgs, installed.command, '-q', ...args], { env, timeoutMs, cwd: installed.dir });
    return run(installed.command, ['-q', ...args], { env, timeoutMs, cwd: installed.dir });
  }

  get daemonPid(): number {
    return this.server.pid;
  }

  private async timed(args: readonly string[]): Promise<TransferCpu> {
    return { client: (await this.ferry(args)).cpuSeconds };
  }

  uploadedTo(tag: string): string {
    return join(this.filesDir, tag);
  }

  async prepareUpload(local: string, tag: string): Promise<Transfer> {
    return { go: () => this.timed(['upload', local, '-d', `/${tag}`]) };
  }

  async stage(local: string): Promise<void> {
    await this.ferry(['upload', local, '-d', '/stage']);
  }

  async prepareDownload(name: string, destDir: string): Promise<Transfer> {
    return { go: () => this.timed(['download', `/stage/${basename(name)}`, '-d', destDir]) };
  }

  /** Files an upload left in the server's temporary folders (there should be none once it is answered). */
  async leftovers(): Promise<string[]> {
    const left: string[] = [];
    for (const dir of ['tmp', 'partial']) {
      const entries = await readdir(join(this.dataDir, dir)).catch(() => [] as string[]);
      left.push(...entries.map((entry) => `${dir}/${entry}`));
    }
    return left;
  }

  async stop(): Promise<void> {
    await this.server.stop(15_000);
  }
}
