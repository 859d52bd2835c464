/**
 * Wires one Ferry server from its configuration: users file (with the first-start
 * admin), storage, listener. Used by `ferry-server start` in a single process and,
 * later, by each cluster worker.
 */

import { X509Certificate } from 'node:crypto';
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { BanBook, LocalLoginGuard, describeBan, type Ban, type BanPolicy, type LoginGuard } from '../auth/bans.js';
import { UserDirectory } from '../auth/users.js';
import { ConcurrencyLimit } from '../io/concurrency-limit.js';
import { ConnectionBook, LocalConnectionGate, type ConnectionGate, type ConnectionLimits } from './connection-book.js';
import type { Announcement } from '../lan/mdns.js';
import { ferryError } from '../protocol/errors.js';
import { certificateFingerprint } from '../protocol/fingerprint.js';
import { DEFAULT_CERTIFICATE_DAYS, certificateFiles } from '../ops/certificate-files.js';
import type { Config } from '../ops/config.js';
import { LedgerBooks, type UploadLedger } from '../storage/ledger.js';
import { loadS3Storage } from '../storage/index.js';
import { LocalStorage } from '../storage/local.js';
import type { Storage } from '../storage/storage.js';
import { FerryServer, type TlsMaterial } from './server.js';
import { NO_OBSERVER, type SessionObserver } from './session.js';
import type { WebServer } from '../web/server.js';
import { RefusalLog } from '../ops/refusal-log.js';
import { VERSION } from '../version.js';
import { terminalQrCode } from '../ops/qr-code.js';
import { exists } from '../io/exists.js';

export const SERVER_AGENT = `ferry-server/${VERSION}`;

export interface RunningService {
  server: FerryServer;
  storage: Storage;
  port: number;
  /** SHA-256 fingerprint of the TLS certificate, when TLS is on. */
  fingerprint: string | undefined;
  /** Port of the HTTPS web client, when it runs. */
  webPort: number | undefined;
  /** A web session was logged out elsewhere (another worker): refuse its cookie here too. */
  forgetWebSession(session: string, expires: number): void;
  /** Drains and stops. */
  stop(): Promise<void>;
}

async function createStorage(config: Config, ledger: UploadLedger): Promise<Storage> {
  if (config.get('storage') === 's3') {
    // Loaded only when used: the AWS SDK is large, and most hosts keep files on local disk.
    const S3Storage = await loadS3Storage();
    return new S3Storage(config.get('s3'), ledger);
  }
  // Secrets the server keeps on disk stay out of every home, even when configured inside one.
  const own = certificateFiles(resolve(config.get('dataDir'), 'tls'));
  const protectedPaths = [config.get('usersFile'), adminPasswordFile(config), config.get('tls.key') || own.keyFile, config.get('tls.cert') || own.certFile].map((path) => resolve(path));
  return new LocalStorage({ dataDir: resolve(config.get('dataDir')), protectedPaths, symlinks: config.get('symlinks') === 'refuse' ? 'refuse' : 'inside' }, ledger);
}

/** The addresses other devices on the LAN can use: each non-internal IPv4. */
export function lanAddresses(): { iface: string; address: string }[] {
  return Object.entries(networkInterfaces()).flatMap(([iface, infos]) =>
    (infos ?? []).filter((info) => info.family === 'IPv4' && !info.internal).map((info) => ({ iface, address: info.address })),
  );
}

/** Where the generated first-start admin password is kept: next to the users file. */
export function adminPasswordFile(config: Config): string {
  return join(dirname(resolve(config.get('usersFile'))), 'admin-password');
}

/** Writes a secret readable by this user alone, replacing any older file whole. */
async function writePrivateFile(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, text, { mode: 0o600 });
  await chmod(temp, 0o600); // In case an older temp file was there with a looser mode.
  await rename(temp, path);
}

/** The users file as the service uses it: password checks bounded, upgrade failures logged. */
function openUsers(config: Config, logger: Logger): UserDirectory {
  return new UserDirectory(resolve(config.get('usersFile')), {
    passwordChecks: new ConcurrencyLimit(Math.max(1, config.get('limits.passwordChecks'))),
    rehash: config.get('rehashPasswords'),
    upgradeFailed: (user, error) =>
      logger.warn({ event: 'rehash-failed', user, err: error }, `could not store a stronger hash for ${user}; it is tried again at the next login`),
  });
}

/**
 * Loads the users file, creating it with the first-start admin when there is none.
 * A generated password goes to a file only this user can read, never to the log,
 * which is often shipped to places many people read.
 */
export async function prepareUsers(config: Config, logger: Logger): Promise<UserDirectory> {
  const usersFile = resolve(config.get('usersFile'));
  const users = openUsers(config, logger);
  const adminPassword = config.get('adminPassword') || undefined;
  const first = await users.ensureExists(adminPassword);
  if (first.generatedPassword) {
    const file = adminPasswordFile(config);
    await writePrivateFile(file, `${first.generatedPassword}\n`);
    logger.warn(
      { event: 'first-start', user: 'admin', passwordFile: file },
      `created user "admin"; its password is in ${file} (readable by this user only): read it, then change it with: ferry-server user passwd admin, and delete the file`,
    );
  } else if (first.created) {
    logger.info({ event: 'first-start', user: 'admin' }, 'created user "admin" with the password from FERRY_ADMIN_PASSWORD');
  } else if (adminPassword !== undefined) {
    logger.warn(
      { event: 'admin-password-ignored', usersFile },
      `FERRY_ADMIN_PASSWORD is set but ${usersFile} already exists, so it is not used: change the password with: ferry-server user passwd admin, and unset FERRY_ADMIN_PASSWORD`,
    );
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
export async function openStorageWithBooks(config: Config, logger: Logger, options: { recover?: boolean } = {}): Promise<{ storage: Storage; books: LedgerBooks }> {
  let opened: Storage | undefined;
  const books = new LedgerBooks((root) => {
    if (!opened) throw new Error('the storage is not open yet');
    return opened.measure(root);
  }, config.get('limits.quotaRescan'));
  const storage = await openStorage(config, books.as('primary'));
  opened = storage;
  if (options.recover === false) return { storage, books };
  const removed = await storage.recover();
  if (removed > 0) logger.info({ event: 'recovered', removed }, `removed ${removed} temp files of uploads cut short when the server last stopped`);
  return { storage, books };
}

export function banPolicy(config: Config): BanPolicy {
  return {
    threshold: config.get('limits.banThreshold'),
    accountThreshold: config.get('limits.accountBanThreshold'),
    windowMs: config.get('limits.banWindow'),
    durationMs: config.get('limits.banDuration'),
  };
}

export function connectionLimits(config: Config): ConnectionLimits {
  return { maxConnections: config.get('limits.maxConnections'), maxConnectionsPerIp: config.get('limits.maxConnectionsPerIp') };
}

export function logBan(logger: Logger, ban: Ban): void {
  logger.warn({ event: 'ban', scope: ban.scope, remote: ban.source, until: new Date(ban.until).toISOString() }, `ban: ${describeBan(ban)}`);
}

export interface ServiceHooks {
  observer?: SessionObserver;
  /** Who decides bans; by default this process alone. */
  guard?: LoginGuard;
  /** Whether this process may make the TLS certificate (not a cluster worker: its primary did). */
  createCertificate?: boolean;
  /** Who counts connections; by default this process alone. */
  gate?: ConnectionGate;
  /** The users file was prepared already (by a cluster primary): just load it. */
  usersPrepared?: boolean;
  /** Where uploads are booked; by default books kept in this process. */
  ledger?: UploadLedger;
  /** Hears of each web logout, to tell the other workers. */
  webLoggedOut?: (session: string, expires: number) => void;
  /**
   * Whether to clear what uploads cut short at the last stop left in the data folder
   * (temp files, stream spools); false where sibling processes may be using them.
   */
  recoverLeftovers?: boolean;
}

export type ServiceTls = TlsMaterial & { fingerprint: string };

/**
 * The TLS certificate and key the service uses, or undefined when FERRY_TLS=false.
 * Without configured files it uses the pair in `<dataDir>/tls`, making one when
 * `create` allows (the one process that starts first; cluster workers only load).
 */
export async function loadTls(config: Config, logger: Logger, options: { create: boolean }): Promise<ServiceTls | undefined> {
  if (!config.get('tls.enabled')) return undefined;
  let certFile = config.get('tls.cert');
  let keyFile = config.get('tls.key');
  if (!certFile !== !keyFile) throw ferryError('USAGE', 'TLS needs both FERRY_TLS_CERT and FERRY_TLS_KEY, or neither (then the server makes its own in the data folder)');
  if (!certFile) {
    const dir = resolve(config.get('dataDir'), 'tls');
    ({ certFile, keyFile } = certificateFiles(dir));
    if (options.create && !(await exists(certFile))) {
      const { writeSelfSignedCertificate } = await import('../ops/certificate.js');
      const made = await writeSelfSignedCertificate(dir, DEFAULT_CERTIFICATE_DAYS);
      logger.info(
        { event: 'tls-certificate-created', certFile, fingerprint: made.fingerprint },
        `made a self-signed TLS certificate ${certFile} with fingerprint ${made.fingerprint}; clients are shown it on first connection`,
      );
    }
  }
  try {
    const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
    return { cert, key, fingerprint: certificateFingerprint(new X509Certificate(cert)) };
  } catch (error) {
    throw ferryError('USAGE', `cannot load the TLS certificate or key: ${(error as Error).message} (make a pair with: ferry-server tls init; or set FERRY_TLS=false for plain TCP)`, error);
  }
}

export async function startService(config: Config, logger: Logger, hooks: ServiceHooks = {}): Promise<RunningService> {
  const users = hooks.usersPrepared ? openUsers(config, logger) : await prepareUsers(config, logger);
  if (hooks.usersPrepared) await users.load();
  const tls = await loadTls(config, logger, { create: hooks.createCertificate ?? true });
  const storage = hooks.ledger ? await openStorage(config, hooks.ledger) : (await openStorageWithBooks(config, logger, { recover: hooks.recoverLeftovers })).storage;
  const limits = config.get('limits');
  // One book of logins and one of connections for both doors, the TCP service and the web client.
  const guard = hooks.guard ?? new LocalLoginGuard(new BanBook(banPolicy(config)), (ban) => logBan(logger, ban));
  const gate = hooks.gate ?? new LocalConnectionGate(new ConnectionBook(connectionLimits(config)));
  const observer = hooks.observer ?? NO_OBSERVER;
  // One refusal log too: a source refused at both doors gets one first line and one tally per interval.
  const refusals = new RefusalLog(logger, limits.authLogInterval);
  const server = new FerryServer({
    refusals,
    host: config.get('server.host'),
    port: config.get('server.port'),
    storage,
    users,
    guard,
    gate,
    handshakeTimeoutMs: limits.handshakeTimeout,
    authLogIntervalMs: limits.authLogInterval,
    logger,
    observer,
    agent: SERVER_AGENT,
    limits: {
      authTimeoutMs: limits.authTimeout,
      authFailureDelayMs: limits.authFailureDelay,
      idleTimeoutMs: limits.idleTimeout,
      maxFrameBytes: limits.maxFrameSize,
      maxFileSize: limits.maxFileSize,
      spoolDir: resolve(config.get('dataDir'), 'tmp'),
      defaultQuota: limits.quota,
      maxEntries: limits.maxEntries,
      bandwidthLimit: limits.bandwidth,
    },
    connectionLimits: connectionLimits(config),
    ...(tls ? { tls } : {}),
  });
  const address = await server.listen().catch(async (error: unknown) => {
    refusals.close();
    await storage.close();
    throw error;
  });
  const web = await startWeb(config, logger, { tls, storage, users, guard, gate, observer, refusals, loggedOut: hooks.webLoggedOut });
  return {
    server,
    storage,
    port: address.port,
    fingerprint: tls?.fingerprint,
    webPort: web?.port,
    forgetWebSession: (session, expires) => web?.server.forget(session, expires),
    stop: async () => {
      await Promise.all([server.close(limits.drainTimeout), web?.server.close(limits.drainTimeout)]);
      refusals.close();
      await storage.close();
    },
  };
}

/**
 * The HTTPS web client, unless FERRY_WEB=false. It needs TLS (its session cookie is
 * Secure); without TLS, or when its port cannot be had, the file service runs on
 * and the log says why the web client does not.
 */
async function startWeb(
  config: Config,
  logger: Logger,
  parts: {
    tls: ServiceTls | undefined;
    storage: Storage;
    users: UserDirectory;
    guard: LoginGuard;
    gate: ConnectionGate;
    observer: SessionObserver;
    refusals: RefusalLog;
    loggedOut: ((session: string, expires: number) => void) | undefined;
  },
): Promise<{ server: WebServer; port: number } | undefined> {
  if (!config.get('web.enabled')) return undefined;
  if (!parts.tls) {
    logger.warn({ event: 'web-off', reason: 'tls-off' }, 'the web client needs TLS and is off while FERRY_TLS=false');
    return undefined;
  }
  const limits = config.get('limits');
  const { WebServer } = await import('../web/server.js');
  const server = new WebServer({
    host: config.get('web.host'),
    port: config.get('web.port'),
    tls: parts.tls,
    storage: parts.storage,
    users: parts.users,
    guard: parts.guard,
    gate: parts.gate,
    logger,
    observer: parts.observer,
    refusals: parts.refusals,
    limits: {
      authFailureDelayMs: limits.authFailureDelay,
      idleTimeoutMs: limits.idleTimeout,
      handshakeTimeoutMs: limits.handshakeTimeout,
      maxFileSize: limits.maxFileSize,
      defaultQuota: limits.quota,
      maxEntries: limits.maxEntries,
      authLogIntervalMs: limits.authLogInterval,
    },
    sessionLifetimeMs: config.get('web.sessionLifetime'),
    ...(parts.loggedOut ? { loggedOut: parts.loggedOut } : {}),
  });
  try {
    const { port } = await server.listen();
    return { server, port };
  } catch (error) {
    logger.error({ event: 'web-off', reason: 'listen', err: error }, `the web client is off: ${(error as Error).message}`);
    return undefined;
  }
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
  if (fingerprint) {
    logger.info(
      { event: 'listening', host, port, tls: true, fingerprint },
      `Ferry is listening on ${host}:${port} with TLS; certificate fingerprint ${fingerprint}`,
    );
  } else {
    logger.info({ event: 'listening', host, port, tls: false }, `Ferry is listening on ${host}:${port}`);
    logger.warn(
      { event: 'plain', host, port },
      'TLS is off (FERRY_TLS=false): passwords and files cross the network readable by anyone on it; clients need --no-tls',
    );
  }
  if (config.get('storage') === 's3') {
    const { endpoint, bucket, prefix } = config.get('s3');
    logger.info({ event: 'storage', kind: 's3', endpoint: endpoint || 'AWS', bucket, prefix }, `files are kept in the S3 bucket "${bucket}" at ${endpoint || 'AWS S3'}`);
  } else {
    const dir = resolve(config.get('dataDir'), 'files');
    logger.info({ event: 'storage', kind: 'local', dir }, `files are kept in ${dir}`);
  }
  const trust = fingerprint ? `--fingerprint ${fingerprint}` : '--no-tls';
  for (const { iface, address } of lanAddresses()) {
    logger.info({ event: 'lan-address', iface, address, port }, `from another device: ferry -s ${address}:${port} ${trust} -u NAME ls`);
  }
}

/** The folder whose volume `ferry_storage_free_bytes` reports: local storage only. */
export function localStorageDir(config: Config): string | undefined {
  return config.get('storage') === 'local' ? resolve(config.get('dataDir')) : undefined;
}

/** Announces the service over mDNS unless FERRY_MDNS=false; a failure to announce is logged, not fatal. */
export async function advertise(config: Config, logger: Logger, port: number, fingerprint: string | undefined, webPort?: number): Promise<Announcement | undefined> {
  if (!config.get('mdns')) return undefined;
  try {
    const { announceService, SERVICE_TYPE, WEB_SERVICE_TYPE } = await import('../lan/mdns.js');
    const announcement = announceService(port, fingerprint, webPort);
    logger.info({ event: 'mdns', type: `_${SERVICE_TYPE}._tcp`, port }, `announced as _${SERVICE_TYPE}._tcp on the LAN (ferry discover finds it)`);
    if (webPort !== undefined) logger.info({ event: 'mdns', type: `_${WEB_SERVICE_TYPE}._tcp`, port: webPort }, `announced the web client as _${WEB_SERVICE_TYPE}._tcp on the LAN`);
    return announcement;
  } catch (error) {
    logger.warn({ err: error }, 'could not announce the service over mDNS; clients need the address');
    return undefined;
  }
}

/**
 * Tells the operator where the web client is: one https:// address per LAN
 * interface, with the fingerprint a browser's warning about the self-made
 * certificate should show, and a QR code of it when the log goes to a terminal.
 */
export function announceWeb(config: Config, logger: Logger, port: number | undefined, fingerprint: string | undefined): void {
  if (port === undefined) return;
  const host = config.get('web.host');
  // Browsers show a certificate's SHA-256 in hex, not in the CLI's base64 form.
  const shown = fingerprint ? Buffer.from(fingerprint.replace(/^SHA256:/, ''), 'base64').toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:') : 'unknown';
  logger.info({ event: 'web-listening', host, port, fingerprint: shown }, `web client on https://${host}:${port}/ (certificate SHA-256 ${shown})`);
  const addresses = lanAddresses();
  for (const { iface, address } of addresses) {
    const url = `https://${address}:${port}/`;
    logger.info({ event: 'web-address', iface, url }, `from a phone or browser: ${url} (the browser warns about the certificate: proceed only if its SHA-256 fingerprint is ${shown})`);
  }
  const first = addresses[0];
  if (first && process.stdout.isTTY) process.stdout.write(`${terminalQrCode(`https://${first.address}:${port}/`)}\n`);
}
