/**
 * Wires one Ferry server from its configuration: users file (with the first-start
 * admin), storage, listener. Used by `ferry-server start` in a single process and,
 * later, by each cluster worker.
 */

import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { BanBook, LocalLoginGuard, type BanPolicy, type LoginGuard } from '../auth/bans.js';
import { UserDirectory } from '../auth/users.js';
import type { Announcement } from '../lan/mdns.js';
import { ferryError } from '../protocol/errors.js';
import type { Config } from '../ops/config.js';
import { LedgerBooks, type UploadLedger } from '../storage/ledger.js';
import { LocalStorage } from '../storage/local.js';
import type { Storage } from '../storage/storage.js';
import { FerryServer, type TlsMaterial } from './server.js';
import { NO_OBSERVER, type SessionObserver } from './session.js';

export const SERVER_AGENT = 'ferry-server/0.1.0';

export interface RunningService {
  server: FerryServer;
  storage: Storage;
  port: number;
  /** SHA-256 fingerprint of the TLS certificate, when TLS is on. */
  fingerprint: string | undefined;
  /** Drains and stops. */
  stop(): Promise<void>;
}

async function createStorage(config: Config, ledger: UploadLedger): Promise<Storage> {
  if (config.get('storage') === 's3') {
    // Loaded only when used: the AWS SDK is large, and most hosts keep files on local disk.
    const { S3Storage } = await import('../storage/s3.js');
    return new S3Storage(config.get('s3'), ledger);
  }
  return new LocalStorage({ dataDir: resolve(config.get('dataDir')) }, ledger);
}

/** The addresses other devices on the LAN can use: each non-internal IPv4. */
export function lanAddresses(): { iface: string; address: string }[] {
  return Object.entries(networkInterfaces()).flatMap(([iface, infos]) =>
    (infos ?? []).filter((info) => info.family === 'IPv4' && !info.internal).map((info) => ({ iface, address: info.address })),
  );
}

/** Loads the users file, creating it with the first-start admin when there is none. */
export async function prepareUsers(config: Config, logger: Logger): Promise<UserDirectory> {
  const users = new UserDirectory(resolve(config.get('usersFile')));
  const first = await users.ensureExists(config.get('adminPassword') || undefined);
  if (first.generatedPassword) {
    logger.warn(
      { event: 'first-start', user: 'admin', generatedPassword: first.generatedPassword },
      `created user "admin" with password ${first.generatedPassword} (shown once; change it with: ferry-server user passwd admin)`,
    );
  } else if (first.created) {
    logger.info({ event: 'first-start', user: 'admin' }, 'created user "admin" with the password from FERRY_ADMIN_PASSWORD');
  }
  return users;
}

/** Opens the configured storage, ready for use, booking uploads in `ledger`. */
async function openStorage(config: Config, ledger: UploadLedger): Promise<Storage> {
  const storage = await createStorage(config, ledger);
  await storage.open();
  return storage;
}

/**
 * Opens the storage of the process that keeps the server's upload ledger (the
 * single process, or the cluster primary), and clears what uploads cut short by
 * the last stop left behind: no upload runs yet, so none of it is in use.
 */
export async function openStorageWithBooks(config: Config, logger: Logger): Promise<{ storage: Storage; books: LedgerBooks }> {
  let opened: Storage | undefined;
  const books = new LedgerBooks((root) => {
    if (!opened) throw new Error('the storage is not open yet');
    return opened.measure(root);
  }, config.get('limits.quotaRescan'));
  const storage = await openStorage(config, books.as('primary'));
  opened = storage;
  const removed = await storage.recover();
  if (removed > 0) logger.info({ event: 'recovered', removed }, `removed ${removed} temp files of uploads cut short when the server last stopped`);
  return { storage, books };
}

export function banPolicy(config: Config): BanPolicy {
  return { threshold: config.get('limits.banThreshold'), windowMs: config.get('limits.banWindow'), durationMs: config.get('limits.banDuration') };
}

export interface ServiceHooks {
  observer?: SessionObserver;
  /** Who decides bans; by default this process alone. */
  guard?: LoginGuard;
  /** Where uploads are booked; by default books kept in this process. */
  ledger?: UploadLedger;
}

/** The TLS certificate and key named by the configuration, or undefined for plain TCP. */
export async function loadTls(config: Config): Promise<(TlsMaterial & { fingerprint: string }) | undefined> {
  const certFile = config.get('tls.cert');
  const keyFile = config.get('tls.key');
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw ferryError('USAGE', 'TLS needs both FERRY_TLS_CERT and FERRY_TLS_KEY (make a pair with: ferry-server tls init)');
  try {
    const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
    return { cert, key, fingerprint: new X509Certificate(cert).fingerprint256 };
  } catch (error) {
    throw ferryError('USAGE', `cannot load the TLS certificate or key: ${(error as Error).message}`, error);
  }
}

export async function startService(config: Config, logger: Logger, hooks: ServiceHooks = {}): Promise<RunningService> {
  const users = await prepareUsers(config, logger);
  const tls = await loadTls(config);
  const storage = hooks.ledger ? await openStorage(config, hooks.ledger) : (await openStorageWithBooks(config, logger)).storage;
  const limits = config.get('limits');
  const server = new FerryServer({
    host: config.get('server.host'),
    port: config.get('server.port'),
    storage,
    users,
    guard: hooks.guard ?? new LocalLoginGuard(new BanBook(banPolicy(config))),
    logger,
    observer: hooks.observer ?? NO_OBSERVER,
    agent: SERVER_AGENT,
    limits: {
      authTimeoutMs: limits.authTimeout,
      authFailureDelayMs: limits.authFailureDelay,
      idleTimeoutMs: limits.idleTimeout,
      maxFrameBytes: limits.maxFrameSize,
      maxFileSize: limits.maxFileSize,
      defaultQuota: limits.quota,
      maxEntries: limits.maxEntries,
      bandwidthLimit: limits.bandwidth,
    },
    connectionLimits: { maxConnections: limits.maxConnections, maxConnectionsPerIp: limits.maxConnectionsPerIp },
    ...(tls ? { tls } : {}),
  });
  const address = await server.listen();
  return {
    server,
    storage,
    port: address.port,
    fingerprint: tls?.fingerprint,
    stop: async () => {
      await server.close(limits.drainTimeout);
      await storage.close();
    },
  };
}

/** How often interrupted uploads are checked for staleness (at most; also at start). */
const SWEEP_INTERVAL_MS = 3_600_000;

/** Removes stale partial uploads now and then on a timer; returns a function that stops it. */
export function sweepPartialsPeriodically(storage: Storage, maxAgeMs: number, logger: Logger): () => void {
  const sweep = (): void => {
    storage.sweepPartials(maxAgeMs).then(
      (removed) => {
        if (removed > 0) logger.info({ event: 'partials-swept', removed }, `removed ${removed} stale partial uploads`);
      },
      (error: unknown) => logger.warn({ err: error }, 'could not sweep partial uploads'),
    );
  };
  sweep();
  const timer = setInterval(sweep, Math.min(SWEEP_INTERVAL_MS, Math.max(maxAgeMs / 4, 1000)));
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Tells the operator where the service listens, where it keeps files, the TLS
 * fingerprint clients will be asked to trust, and what other devices should type.
 */
export function announce(config: Config, logger: Logger, port: number, fingerprint: string | undefined): void {
  const host = config.get('server.host');
  const flag = fingerprint ? '--tls ' : '';
  logger.info(
    { event: 'listening', host, port, tls: fingerprint !== undefined, ...(fingerprint ? { fingerprint } : {}) },
    `Ferry is listening on ${host}:${port}${fingerprint ? ` with TLS, certificate SHA256 ${fingerprint}` : ''}`,
  );
  if (config.get('storage') === 's3') {
    const { endpoint, bucket, prefix } = config.get('s3');
    logger.info({ event: 'storage', kind: 's3', endpoint: endpoint || 'AWS', bucket, prefix }, `files are kept in the S3 bucket "${bucket}" at ${endpoint || 'AWS S3'}`);
  } else {
    const dir = resolve(config.get('dataDir'), 'files');
    logger.info({ event: 'storage', kind: 'local', dir }, `files are kept in ${dir}`);
  }
  for (const { iface, address } of lanAddresses()) {
    logger.info({ event: 'lan-address', iface, address, port }, `from another device: ferry ${flag}-s ${address}:${port} -u NAME ls`);
  }
}

/** The folder whose volume `ferry_storage_free_bytes` reports: local storage only. */
export function localStorageDir(config: Config): string | undefined {
  return config.get('storage') === 'local' ? resolve(config.get('dataDir')) : undefined;
}

/** Announces the service over mDNS unless FERRY_MDNS=false; a failure to announce is logged, not fatal. */
export async function advertise(config: Config, logger: Logger, port: number, fingerprint: string | undefined): Promise<Announcement | undefined> {
  if (!config.get('mdns')) return undefined;
  try {
    const { announceService, SERVICE_TYPE } = await import('../lan/mdns.js');
    const announcement = announceService(port, fingerprint);
    logger.info({ event: 'mdns', type: `_${SERVICE_TYPE}._tcp`, port }, `announced as _${SERVICE_TYPE}._tcp on the LAN (ferry discover finds it)`);
    return announcement;
  } catch (error) {
    logger.warn({ err: error }, 'could not announce the service over mDNS; clients need the address');
    return undefined;
  }
}
