/**
 * The messages a cluster primary and its workers exchange over IPC.
 */

import type { MetricsSnapshot } from '../ops/metrics.js';

export type WorkerMessage =
  | { type: 'ferry:listening'; port: number }
  | { type: 'ferry:metrics'; id: number; snapshot: MetricsSnapshot };

export type PrimaryMessage = { type: 'ferry:drain' } | { type: 'ferry:metrics?'; id: number };

function hasType(message: unknown): message is { type: unknown } {
  return typeof message === 'object' && message !== null && 'type' in message;
}

export function isWorkerMessage(message: unknown): message is WorkerMessage {
  return hasType(message) && (message.type === 'ferry:listening' || message.type === 'ferry:metrics');
}

export function isPrimaryMessage(message: unknown): message is PrimaryMessage {
  return hasType(message) && (message.type === 'ferry:drain' || message.type === 'ferry:metrics?');
}
