/**
 * Real Ferry servers for tests: in-process on 127.0.0.1 and an ephemeral port,
 * or as a child process running the built `ferry-server`, each with its own
 * temporary data folder and users file.
 */

import type { ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BanBook, LocalLoginGuard, type BanPolicy } from '../../src/auth/bans.js';
import { ALL_PERMISSIONS, READ_ONLY_PERMISSIONS, UserDirectory } from '../../src/auth/users.js';
import { FerryClient, type ConnectOptions } from '../../src/client/client.js';
import { ConcurrencyLimit } from '../../src/io/concurrency-limit.js';
import { silentLogger } from '../../src/log/logger.js';
import { certificateFingerprint } from '../../src/protocol/fingerprint.js';
import type { Permission } from '../../src/protocol/messages.js';
import type { ConnectionGate } from '../../src/server/connection-book.js';
import { FerryServer } from '../../src/server/server.js';
import { NO_OBSERVER, type SessionLimits, type SessionObserver } from '../../src/server/session.js';
import { LocalStorage } from '../../src/storage/index.js';
import { S3Storage } from '../../src/storage/s3/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { tempDir } from './files.js';
import { ferryServer, SERVER_BIN } from './cli.js';
import { startS3, type TestS3 } from './s3.js';
import { localFiles, s3Files, type Backend, type StoredFiles } from './stored.js';
import { loopbackAddress, testCertificate, trustEnv } from './tls.js';

function fingerprintOf(cert: string | Buffer): string {
  return certificateFingerprint(new X509Certificate(cert));
}

export const ADMIN = { user: 'admin', password: 'admin-password' };
export const READER = { user: 'reader', password: 'reader-password' };

export interface TestServer {
  port: number;
  backend: Backend;
  dataDir: string;
  /** Where the storage root lies on disk (`<dataDir>/files`), for the local backend. */
  filesDir: string;
  /** What the storage holds, whichever the backend. */
  stored: StoredFiles;
  /** The S3-compatible server behind the s3 backend. */
  s3: TestS3 | undefined;
  users: UserDirectory;
  server: FerryServer;
  /** The certificate fingerprint, or undefined for a plain server (`tls: false`). */
  fingerprint: string | undefined;
  /** How a library client reaches it (TLS pinned to its fingerprint). */
  address: ConnectOptions;
  /** Environment for the CLI to reach this server as admin (pinning its fingerprint). */
  env: Record<string, string>;
  connect(credentials?: { user: string; password: string }): Promise<FerryClient>;
  addUser(name: string, password: string, options?: { home?: string; permissions?: Permission[] }): Promise<void>;
  stop(): Promise<void>;
}

/** A client logged in to the server at `address`, closed when the test ends. */
async function loggedIn(t: ExecutionContext, address: ConnectOptions, credentials: { user: string; password: string }): Promise<FerryClient> {
  const client = await FerryClient.connect(address);
  t.teardown(() => client.close());
  await client.login(credentials.user, credentials.password);
  return client;
}

const TEST_LIMITS: SessionLimits = {
  authTimeoutMs: 30_000,
  authFailureDelayMs: 0,
  defaultQuota: 0,
  maxEntries: 0,
  bandwidthLimit: 0,
  idleTimeoutMs: 60_000,
  maxFrameBytes: 4 * 1024 * 1024,
  maxFileSize: 0,
};

export async function startServer(
  t: ExecutionContext,
  options: {
    backend?: Backend;
    limits?: Partial<SessionLimits>;
    maxConnections?: number;
    observer?: SessionObserver;
    bans?: BanPolicy;
    tls?: { cert: string | Buffer; key: string | Buffer } | false;
    /** Password checks run at once (the server's default unless given). */
    passwordChecks?: number;
    /** Who admits connections (a cluster worker asks its primary); this process's own count unless given. */
    gate?: ConnectionGate;
  } = {},
): Promise<TestServer> {
  // TLS, as the real default; `tls: false` for tests that speak raw frames on the socket.
  const tls = options.tls === false ? undefined : (options.tls ?? (await testCertificate()));
  const fingerprint = tls && fingerprintOf(tls.cert);
  const backend = options.backend ?? 'local';
  const dataDir = await tempDir(t, 'ferry-server-');
  const users = new UserDirectory(join(dataDir, 'users.json'), { passwordChecks: new ConcurrencyLimit(options.passwordChecks ?? 2) });
  await users.add(ADMIN.user, ADMIN.password, { home: '/', permissions: ALL_PERMISSIONS });
  await users.add(READER.user, READER.password, { home: '/', permissions: READ_ONLY_PERMISSIONS });
  const local = new LocalStorage({ dataDir });
  const s3 = backend === 's3' ? await startS3(t) : undefined;
  const storage: Storage = s3 ? new S3Storage(s3.options) : local;
  await storage.open();
  const server = new FerryServer({
    host: '127.0.0.1',
    port: 0,
    storage,
    users,
    guard: new LocalLoginGuard(new BanBook(options.bans ?? { threshold: 0, windowMs: 0, durationMs: 0 })),
    logger: silentLogger(),
    observer: options.observer ?? NO_OBSERVER,
    agent: 'ferry-test',
    // Streamed uploads wait in the data folder, as under the real service.
    limits: { ...TEST_LIMITS, spoolDir: join(dataDir, 'tmp'), ...options.limits },
    connectionLimits: { maxConnections: options.maxConnections ?? 1000, maxConnectionsPerIp: options.maxConnections ?? 1000 },
    ...(options.gate ? { gate: options.gate } : {}),
    ...(tls ? { tls: { cert: Buffer.from(tls.cert), key: Buffer.from(tls.key) } } : {}),
  });
  const { port } = await server.listen();
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await server.close(0);
  };
  t.teardown(stop);
  return {
    port,
    backend,
    dataDir,
    filesDir: local.filesDir,
    stored: s3 ? s3Files(s3.client, s3.bucket) : localFiles(dataDir),
    s3,
    users,
    server,
    fingerprint,
    address: loopbackAddress(port, fingerprint),
    env: { FERRY_SERVER: `127.0.0.1:${port}`, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password, ...trustEnv(fingerprint) },
    connect: (credentials = ADMIN) => loggedIn(t, loopbackAddress(port, fingerprint), credentials),
    async addUser(name, password, extra = {}) {
      await users.add(name, password, { home: extra.home ?? '/', permissions: extra.permissions ?? ALL_PERMISSIONS });
    },
    stop,
  };
}

export interface SpawnedServer {
  port: number;
  /** The fingerprint from its start-up log, or undefined when it runs with FERRY_TLS=false. */
  fingerprint: string | undefined;
  /** How a library client reaches it. */
  address: ConnectOptions;
  /** Environment for the CLI to reach it (user and password are the test's to add). */
  env: Record<string, string>;
  /** Port of the ops HTTP server (metrics, health). */
  opsPort: number;
  child: ChildProcess;
  /** Every log line so far, parsed. */
  logs: Record<string, unknown>[];
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  waitForLog(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

/**
 * Runs the built `ferry-server start` as a child process (in `netns`, if given, or
 * under a `wrapper` command such as `unshare`) and waits until it listens.
 */
export async function spawnServer(t: ExecutionContext, env: Record<string, string>, args: string[] = [], netns?: string, wrapper: string[] = []): Promise<SpawnedServer> {
  const [command = process.execPath, ...prefix] = [...(netns ? ['ip', 'netns', 'exec', netns] : wrapper), process.execPath];
  const child = spawn(command, [...prefix, SERVER_BIN, 'start', ...args], {
    env: { ...process.env, FERRY_HOST: '127.0.0.1', FERRY_PORT: '0', FERRY_OPS_HOST: '127.0.0.1', FERRY_OPS_PORT: '0', FERRY_WORKERS: '0', FERRY_MDNS: 'false', FERRY_WEB_HOST: '127.0.0.1', FERRY_WEB_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { match: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { msg: text };
    }
    logs.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.match(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitForLog = (match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return Promise.race([
      new Promise<Record<string, unknown>>((resolve) => waiters.push({ match, resolve })),
      exited.then((code) => {
        throw new Error(`ferry-server exited with ${code} before the expected log line; stderr: ${stderr}`);
      }),
    ]);
  };
  const ops = await waitForLog((line) => line.event === 'ops-listening');
  const listening = await waitForLog((line) => line.event === 'listening');
  const port = listening.port as number;
  const fingerprint = typeof listening.fingerprint === 'string' ? listening.fingerprint : undefined;
  return {
    port,
    fingerprint,
    address: loopbackAddress(port, fingerprint),
    env: { FERRY_SERVER: `127.0.0.1:${port}`, ...trustEnv(fingerprint) },
    opsPort: ops.port as number,
    child,
    logs,
    exited,
    waitForLog,
  };
}

/** A `ferry-server` running as a cluster (a primary and its workers) in a child process, on either backend. */
export interface ClusterServer {
  port: number;
  backend: Backend;
  dataDir: string;
  usersFile: string;
  stored: StoredFiles;
  spawned: SpawnedServer;
  /** The fingerprint from its start-up log, or undefined when it runs with FERRY_TLS=false. */
  fingerprint: string | undefined;
  /** How a library client reaches it (TLS pinned to its fingerprint unless FERRY_TLS=false). */
  address: ConnectOptions;
  /** Environment for the CLI to reach this server as admin (pinning its fingerprint). */
  env: Record<string, string>;
  connect(credentials?: { user: string; password: string }): Promise<FerryClient>;
}

export async function startClusterServer(
  t: ExecutionContext,
  options: { backend?: Backend; workers?: number; env?: Record<string, string> } = {},
): Promise<ClusterServer> {
  const backend = options.backend ?? 'local';
  const dataDir = await tempDir(t, 'ferry-cluster-');
  const s3 = backend === 's3' ? await startS3(t) : undefined;
  const spawned = await spawnServer(t, {
    FERRY_DATA_DIR: dataDir,
    FERRY_ADMIN_PASSWORD: ADMIN.password,
    FERRY_WORKERS: String(options.workers ?? 2),
    ...s3?.env,
    ...options.env,
  });
  const port = spawned.port;
  return {
    port,
    backend,
    dataDir,
    usersFile: join(dataDir, 'users.json'),
    stored: s3 ? s3Files(s3.client, s3.bucket) : localFiles(dataDir),
    spawned,
    fingerprint: spawned.fingerprint,
    address: spawned.address,
    env: { ...spawned.env, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password },
    connect: (credentials = ADMIN) => loggedIn(t, loopbackAddress(port, spawned.fingerprint), credentials),
  };
}

/** Adds a user with a home of their own (`/<name>`) and a quota, as an admin would with `ferry-server user add`; returns the CLI's environment for them. */
export async function addUserWithQuota(
  t: ExecutionContext,
  server: { usersFile: string; dataDir: string; env: Record<string, string> },
  name: string,
  quota: string,
): Promise<Record<string, string>> {
  const password = `${name}-password`;
  const added = await ferryServer(['user', 'add', name, '--password-stdin', '--home', `/${name}`, '--quota', quota], {
    env: { FERRY_USERS_FILE: server.usersFile, FERRY_DATA_DIR: server.dataDir },
    input: password,
  });
  t.is(added.code, 0, added.stderr);
  return { ...server.env, FERRY_USER: name, FERRY_PASSWORD: password };
}
