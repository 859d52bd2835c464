/**
 * Audit lines: who changed the tree (delete, rename, mkdir, touch) and who logged in or
 * was refused, with the remote address, so an operator can answer "who removed
 * this?" from the log alone. Every line carries `"audit":true`, a filter for log
 * shippers; refused changes are logged too, with their error code.
 */

import type { Logger } from 'pino';
import type { ErrorCode } from '../protocol/errors.js';
import type { Request } from '../protocol/messages.js';

export interface Actor {
  /** The logged-in user, or the name a login tried. */
  user: string | undefined;
  /** `address:port` of the client. */
  remote: string;
}

/** What a tree-changing request names; undefined for requests that change nothing. */
function changeTarget(request: Request): Record<string, unknown> | undefined {
  switch (request.op) {
    case 'delete':
      return { path: request.path, recursive: request.recursive };
    case 'rename':
      return { from: request.from, to: request.to, noClobber: request.noClobber };
    case 'mkdir':
      return { path: request.path };
    case 'touch':
      return { path: request.path, mtime: request.mtime };
    default:
      return undefined;
  }
}

/** Logs a delete, rename, mkdir or touch (done, or refused with `code`); other requests are not audited. */
export function auditChange(logger: Logger, actor: Actor, request: Request, code?: ErrorCode): void {
  const target = changeTarget(request);
  if (target === undefined) return;
  const result = code === undefined ? 'ok' : 'error';
  logger.info({ audit: true, event: request.op, user: actor.user, remote: actor.remote, ...target, result, code }, `${request.op} ${code ?? 'ok'}`);
}

/**
 * Logs a successful login. Refused ones are logged by the refusal log
 * (log/refusal-log.ts), summed per source and interval, so that a guessing storm
 * cannot flood the log; those lines carry `"audit":true` too.
 */
export function auditLogin(logger: Logger, actor: Actor): void {
  logger.info({ audit: true, event: 'auth', user: actor.user, remote: actor.remote, result: 'success' }, 'login');
}
