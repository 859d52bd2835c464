/**
 * How a request ended: all the session needs to answer it, log it, and decide
 * whether the connection goes on. A handler's own result (handler.ts) plus the
 * two ways to fail: refused (the request failed and the connection is fine: the
 * session answers ERROR unless the handler already did) or aborted (the
 * connection broke under it, or the client broke the framing: nothing more can
 * be said on it).
 */

import { FerryError, asFerryError } from '../protocol/errors.js';
import type { Done } from './handler.js';

export type Outcome = (
  | Done
  /** `reason` is what was thrown, for the log of an unexpected failure. */
  | { kind: 'refused'; error: FerryError; answered: boolean; reason: unknown }
  | { kind: 'aborted'; error: FerryError }
) & {
  /** Bytes the request moved, for the transfer log line. */
  bytes: number;
};

/** The two ways a request fails. */
export type Failure = Extract<Outcome, { kind: 'refused' | 'aborted' }>;

/**
 * A refusal whose ERROR frame already went out: an upload refused while its data
 * kept coming answers first, so the client can stop sending, then drops the rest.
 */
export class SentRefusal extends FerryError {
  constructor(readonly refusal: FerryError) {
    super(refusal.code, refusal.message, { cause: refusal.cause });
  }
}

/** The outcome of a request that threw `thrown` after moving `bytes`. */
export function failed(thrown: unknown, bytes: number): Failure {
  const answered = thrown instanceof SentRefusal;
  const reason = answered ? thrown.refusal : thrown;
  const error = asFerryError(reason);
  if (error.code === 'CONNECTION_LOST' || error.code === 'BAD_FRAME') return { kind: 'aborted', error, bytes };
  return { kind: 'refused', error, answered, reason, bytes };
}
