/**
 * What the web client's listener is given: where to listen, the books and storage it
 * shares with the file service, and its limits.
 */

import type { Logger } from 'pino';
import type { LoginGuard } from '../auth/bans.js';
import type { UserDirectory } from '../auth/users.js';
import type { RefusalLog } from '../log/refusal-log.js';
import type { ConnectionGate } from '../server/connection-book.js';
import type { TlsMaterial } from '../server/server.js';
import type { SessionObserver } from '../server/session.js';
import type { Storage } from '../storage/index.js';

interface WebLimits {
  authFailureDelayMs: number;
  idleTimeoutMs: number;
  handshakeTimeoutMs: number;
  maxFileSize: number;
  defaultQuota: number;
  /** Files and folders a home may hold (0: no limit). */
  maxEntries: number;
  /** Refused logins from one address are logged as one line per this interval. */
  authLogIntervalMs: number;
}

export interface WebServerOptions {
  host: string;
  port: number;
  tls: TlsMaterial;
  storage: Storage;
  users: UserDirectory;
  guard: LoginGuard;
  gate: ConnectionGate;
  logger: Logger;
  observer: SessionObserver;
  limits: WebLimits;
  sessionLifetimeMs: number;
  /** The refusal log shared with the file service (one line per source for both doors); else its own. */
  refusals?: RefusalLog;
  /** Hears of each logout (a cluster worker tells its siblings through the primary). */
  loggedOut?: (session: string, expires: number) => void;
}
