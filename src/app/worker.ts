/**
 * A cluster worker: serves connections on the listening socket it shares with
 * its siblings, answers the primary's metrics requests, and drains when told.
 */

import cluster from 'node:cluster';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { WorkerMetrics } from '../ops/metrics.js';
import { startService, type RunningService } from './service.js';
import { FerryError } from '../protocol/errors.js';
import { EXPIRED, withDeadline } from '../io/deadline.js';
import { IpcLedger } from '../cluster/ledger-ipc.js';
import { WORKER_SLOT_VARIABLE, isPrimaryMessage, type WorkerMessage } from '../cluster/messages.js';
import { WorkerBooks } from '../cluster/server-books.js';

/** A worker that could not start exits with this code; the primary has the reason. */
const START_FAILED_EXIT_CODE = 1;
/** How long a starting worker waits for the primary's list of web logouts. */
const LOGOUTS_TIMEOUT_MS = 10_000;

function send(message: WorkerMessage): void {
  process.send?.(message);
}

/**
 * Sends `message` and lets go of the IPC channel once it is on its way, so the
 * process can end with its own exit code: a bare channel disconnect makes
 * Node's cluster worker exit 0 at once, a worker's own disconnect does not.
 */
async function sendLast(message: WorkerMessage): Promise<void> {
  if (!process.connected) return;
  await new Promise<void>((resolve) => process.send?.(message, undefined, {}, () => resolve()));
  if (process.connected) cluster.worker?.disconnect();
}

export async function runWorker(config: Config, baseLogger: Logger): Promise<number> {
  // Our own primary names the slot; a foreign one (pm2 in cluster mode) answers none of our questions.
  const ownPrimary = process.env[WORKER_SLOT_VARIABLE] !== undefined;
  const slot = process.env[WORKER_SLOT_VARIABLE] ?? '0';
  const logger = baseLogger.child({ worker: slot });
  const metrics = new WorkerMetrics(slot);
  // Logins and connections are counted by the primary, for the whole server, and it
  // prepared the users file before forking us.
  const books = ownPrimary ? new WorkerBooks() : undefined;
  // Ctrl-C reaches the whole process group: the primary decides how to stop.
  process.on('SIGINT', () => undefined);
  let service: RunningService;
  // Web logouts made before this worker started (it asks the primary before it serves), and any
  // made while it starts: applied once the service is up, so no logged-out cookie is accepted.
  const earlyLogouts: [string, number][] = [];
  let heardLogouts: () => void = () => undefined;
  const logoutsKnown = new Promise<void>((resolve) => (heardLogouts = resolve));
  const hearEarly = (message: unknown): void => {
    if (!isPrimaryMessage(message)) return;
    if (message.type === 'ferry:web-logout') earlyLogouts.push([message.session, message.expires]);
    if (message.type === 'ferry:web-logouts') {
      earlyLogouts.push(...message.logouts);
      heardLogouts();
    }
  };
  if (books) {
    process.on('message', hearEarly);
    send({ type: 'ferry:web-logouts?' });
    if ((await withDeadline(logoutsKnown, LOGOUTS_TIMEOUT_MS)) === EXPIRED) logger.warn({ event: 'web-logouts-unknown' }, 'the primary did not send the web logouts made so far; cookies logged out before this worker started may be accepted by it');
  }
  try {
    // Under our own primary it made the certificate and the users file before forking
    // us, and it keeps the quota and upload-lock books for the whole server.
    const shared = books
      ? {
          guard: books,
          gate: books,
          usersPrepared: true,
          createCertificate: false,
          ledger: new IpcLedger(),
          webLoggedOut: (session: string, expires: number) => send({ type: 'ferry:web-logout', session, expires }),
        }
      : // A foreign primary (pm2 in cluster mode) starts its workers at any time, each with
        // books of its own: a worker starting must not clear the temp files its siblings write.
        { recoverLeftovers: false };
    service = await startService(config, logger, { observer: metrics, ...shared });
    for (const [session, expires] of earlyLogouts) service.forgetWebSession(session, expires);
    process.off('message', hearEarly);
  } catch (error) {
    // The primary logs the reason (once, however often the slot is retried) and backs off.
    const code = error instanceof FerryError ? error.code : 'INTERNAL';
    await sendLast({ type: 'ferry:start-failed', code, reason: error instanceof Error ? error.message : String(error) });
    return START_FAILED_EXIT_CODE;
  }

  const stopped = new Promise<void>((resolve) => {
    let stopping: Promise<void> | undefined;
    const stop = (why: string): void => {
      stopping ??= (async () => {
        logger.info({ event: 'worker-drain', why }, 'worker draining');
        await service.stop();
        resolve();
      })();
    };
    process.on('message', (message: unknown) => {
      if (!isPrimaryMessage(message)) return;
      if (message.type === 'ferry:drain') stop('asked by the primary');
      else if (message.type === 'ferry:web-logout') service.forgetWebSession(message.session, message.expires);
      else if (message.type === 'ferry:metrics?') void metrics.snapshot().then((snapshot) => send({ type: 'ferry:metrics', id: message.id, snapshot }));
    });
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('disconnect', () => stop('the primary went away'));
  });
  send({ type: 'ferry:listening', port: service.port, webPort: service.webPort });
  await stopped;
  // The IPC channel keeps a worker alive: let go of it so the process can end.
  if (process.connected) process.disconnect();
  return 0;
}
