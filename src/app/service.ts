/**
 * Wires one Ferry server from its configuration: users file (with the first-start
 * admin), storage, listener and web client. Used by the single process and by
 * each cluster worker.
 */

import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { BanBook, LocalLoginGuard, logBan, type LoginGuard } from '../auth/bans.js';
import type { UserDirectory } from '../auth/users.js';
import type { Config } from '../config/config.js';
import { settingAssignment } from '../config/schema.js';
import { RefusalLog } from '../log/refusal-log.js';
import { ConnectionBook, LocalConnectionGate, type ConnectionGate } from '../server/connection-book.js';
import { FerryServer } from '../server/server.js';
import { NO_OBSERVER, type SessionObserver } from '../server/session.js';
import type { Storage, UploadLedger } from '../storage/index.js';
import { VERSION } from '../version.js';
import type { WebServer } from '../web/server.js';
import { banPolicy, connectionLimits } from './policies.js';
import { openStorage, openStorageWithBooks } from './storage.js';
import { loadTls, type ServiceTls } from './tls.js';
import { openUsers, prepareUsers } from './users.js';

const SERVER_AGENT = `ferry-server/${VERSION}`;

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
 * The HTTPS web client, unless turned off. It needs TLS (its session cookie is
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
    logger.warn({ event: 'web-off', reason: 'tls-off' }, `the web client needs TLS and is off while ${settingAssignment('tls.enabled', 'false')}`);
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
