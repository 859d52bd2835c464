/**
 * What every route of the web client gets for a request of a logged-in user: the
 * HTTP exchange, the user as the users file says now, their jailed storage and
 * limits, and where to report transfers and log lines.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { User } from '../auth/users.js';
import { performance } from 'node:perf_hooks';
import { clientText } from '../log/logger.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { SessionObserver, TransferResult } from '../server/session.js';
import type { HomeStorage } from '../storage/index.js';

/** What a route handler gets for a logged-in request. */
export interface WebRequest {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  user: User;
  home: HomeStorage;
  maxFileSize: number;
  observer: SessionObserver;
  logger: Logger;
  remote: string;
}

/** Counts a transfer in the metrics and logs it, as the TCP sessions do. */
export function recordTransfer(
  r: WebRequest,
  record: { direction: 'upload' | 'download'; result: TransferResult; bytes: number; started: number; path: string; code?: ErrorCode },
): void {
  const seconds = (performance.now() - record.started) / 1000;
  r.observer.transfer({ direction: record.direction, result: record.result, bytes: record.bytes, seconds, ...(record.code ? { code: record.code } : {}) });
  r.logger.info(
    {
      event: 'transfer',
      via: 'web',
      direction: record.direction,
      user: r.user.name,
      remote: r.remote,
      path: clientText(record.path),
      bytes: record.bytes,
      durationMs: Math.round(seconds * 1000),
      result: record.result,
      code: record.code,
    },
    `${record.direction} ${record.result}`,
  );
}
