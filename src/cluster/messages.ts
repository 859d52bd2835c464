/**
 * The messages a cluster primary and its workers exchange over IPC.
 */

import type { MetricsSnapshot } from '../ops/metrics.js';

/** The environment variable through which the primary names each worker's slot; a worker without it has a foreign primary (pm2). */
export const WORKER_SLOT_VARIABLE = 'FERRY_WORKER_SLOT';

export type WorkerMessage =
  | { type: 'ferry:listening'; port: number; webPort?: number | undefined }
  | { type: 'ferry:start-failed'; code: string; reason: string }
  | { type: 'ferry:metrics'; id: number; snapshot: MetricsSnapshot }
  /** A web session was logged out on this worker: every worker must refuse its cookie. */
  | { type: 'ferry:web-logout'; session: string; expires: number }
  /** A starting worker asks for the web logouts made so far, before it serves. */
  | { type: 'ferry:web-logouts?' };

export type PrimaryMessage =
  | { type: 'ferry:drain' }
  | { type: 'ferry:metrics?'; id: number }
  | { type: 'ferry:web-logout'; session: string; expires: number }
  /** The web logouts whose sessions have not expired yet: [session id, expiry] pairs. */
  | { type: 'ferry:web-logouts'; logouts: [string, number][] };

const WORKER_TYPES = new Set(['ferry:listening', 'ferry:start-failed', 'ferry:metrics', 'ferry:web-logout', 'ferry:web-logouts?']);
const PRIMARY_TYPES = new Set(['ferry:drain', 'ferry:metrics?', 'ferry:web-logout', 'ferry:web-logouts']);

function hasType(message: unknown): message is { type: unknown } {
  return typeof message === 'object' && message !== null && 'type' in message;
}

export function isWorkerMessage(message: unknown): message is WorkerMessage {
  return hasType(message) && WORKER_TYPES.has(String(message.type));
}

export function isPrimaryMessage(message: unknown): message is PrimaryMessage {
  return hasType(message) && PRIMARY_TYPES.has(String(message.type));
}
