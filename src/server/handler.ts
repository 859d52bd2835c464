/**
 * What a command handler is given and what it gives back. A handler checks the
 * user's rights, asks the user's HomeStorage, reads its request's data from the
 * channel and streams a long answer (a listing, a download) onto it; how the
 * request ends is its return value (or a thrown FerryError), which the session
 * answers, logs and keeps in request order. The handlers themselves live in
 * commands.ts, upload.ts and stream-upload.ts.
 */

import { ferryError } from '../protocol/errors.js';
import type { Permission, PutResult, Request, RequestOf } from '../protocol/messages.js';
import type { HomeStorage } from '../storage/index.js';
import type { FrameChannel } from '../transport/channel.js';
import type { Throttle } from './throttle.js';

export interface CommandLimits {
  maxFileSize: number;
  /** Where streamed uploads (size stated at the end) wait for their END; the system's temp folder by default. */
  spoolDir?: string;
}

export interface CommandContext {
  id: number;
  channel: FrameChannel;
  home: HomeStorage;
  permissions: readonly Permission[];
  /** The user's whole quota in bytes (0: none): a streamed upload of unknown length is cut off past it. */
  quota: number;
  limits: CommandLimits;
  /** The connection's bandwidth limit. */
  throttle: Throttle;
  /**
   * Bytes moved by this command so far, for the transfer log line: the one field
   * a handler changes, since a transfer that fails halfway still reports them.
   */
  bytes: number;
  /** Resolves once every earlier request on the connection has been answered. */
  settled: () => Promise<void>;
}

/** How a handler that did its work ends. */
export type Done =
  /** The session answers OK with `answer`. */
  | { kind: 'answer'; answer: object }
  /** The handler sent its whole answer itself (a listing's parts, a download's data). */
  | { kind: 'sent' }
  /** An upload whose data is in and verified: `answer` goes out once `commit` (fsync, rename) is done, in request order. */
  | { kind: 'committing'; commit: Promise<void>; answer: PutResult };

export type DataOp = Exclude<Request['op'], 'login' | 'quit'>;

export type Handler<O extends DataOp> = (ctx: CommandContext, request: RequestOf<O>) => Promise<Done>;

/** Refuses unless the user's rights include `permission`; `what` names the attempt for the message. */
export function requirePermission(permissions: readonly Permission[], permission: Permission, what: string): void {
  if (!permissions.includes(permission)) {
    throw ferryError('PERMISSION_DENIED', `your account may not ${what} (it lacks the "${permission}" permission)`);
  }
}
