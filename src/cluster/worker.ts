/**
 * A cluster worker: serves connections on the listening socket it shares with
 * its siblings, answers the primary's metrics requests, and drains when told.
 */

import type { Logger } from 'pino';
import type { Config } from '../ops/config.js';
import { WorkerMetrics } from '../ops/metrics.js';
import { BanBook, type BanPolicy, type LoginGuard } from '../auth/bans.js';
import { banPolicy, startService } from '../server/service.js';
import { IpcLedger } from './ledger-ipc.js';
import { isPrimaryMessage, type WorkerMessage } from './messages.js';

function send(message: WorkerMessage): void {
  process.send?.(message);
}

/**
 * A worker's view of bans: failures and successes go to the primary, which keeps
 * the one book for the cluster; bans it decides come back to every worker.
 */
class ClusterLoginGuard implements LoginGuard {
  readonly known: BanBook;

  constructor(policy: BanPolicy) {
    this.known = new BanBook(policy);
  }

  bannedUntil(ip: string): number | undefined {
    return this.known.bannedUntil(ip);
  }

  failure(ip: string): undefined {
    send({ type: 'ferry:login-failed', ip });
    return undefined;
  }

  success(ip: string): void {
    send({ type: 'ferry:login-ok', ip });
  }
}

export async function runWorker(config: Config, baseLogger: Logger): Promise<number> {
  const slot = process.env.FERRY_WORKER_SLOT ?? '0';
  const logger = baseLogger.child({ worker: slot });
  const metrics = new WorkerMetrics(slot);
  const guard = new ClusterLoginGuard(banPolicy(config));
  // Ctrl-C reaches the whole process group: the primary decides how to stop.
  process.on('SIGINT', () => undefined);
  const service = await startService(config, logger, { observer: metrics, guard, ledger: new IpcLedger() });

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
      else if (message.type === 'ferry:ban') guard.known.ban(message.ip, message.until);
      else void metrics.snapshot().then((snapshot) => send({ type: 'ferry:metrics', id: message.id, snapshot }));
    });
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('disconnect', () => stop('the primary went away'));
  });
  send({ type: 'ferry:listening', port: service.port });
  await stopped;
  // The IPC channel keeps a worker alive: let go of it so the process can end.
  if (process.connected) process.disconnect();
  return 0;
}
