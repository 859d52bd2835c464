/**
 * Retrying a refused or lost connection with jittered exponential backoff (the
 * delays are client/retry-policy.ts's), and which failures are worth a retry.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { retryDelayMs } from '../client/retry-policy.js';
import { FerryError, systemErrorCode } from '../protocol/errors.js';

export type RetryNotice = (notice: { error: FerryError; retry: number; retries: number; delayMs: number }) => void;

export function worthRetrying(error: unknown): boolean {
  if (!(error instanceof FerryError)) return false;
  if (error.code === 'BUSY' || error.code === 'CONNECTION_LOST' || error.code === 'STORAGE_UNAVAILABLE') return true;
  // Not a connect timeout: a server whose packets are dropped drops them again, and
  // each try would add the whole timeout to the wait.
  return error.code === 'CONNECT_FAILED' && ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH'].includes(systemErrorCode(error.cause) ?? '');
}

/** Calls `attempt` until it succeeds or `retries` more tries failed, backing off between them. */
export async function withRetries<T>(retries: number, attempt: () => Promise<T>, onRetry?: RetryNotice): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (tries >= retries || !worthRetrying(error)) throw error;
      const delayMs = retryDelayMs(tries);
      onRetry?.({ error: error as FerryError, retry: tries + 1, retries, delayMs });
      await sleep(delayMs);
    }
  }
}
