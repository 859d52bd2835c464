/**
 * The cluster primary process: prepares what workers must not race for (the first
 * admin, the certificate), keeps the whole server's books and storage, and runs
 * the shared start and stop sequence around its workers (cluster/primary.ts).
 */

import type { Logger } from 'pino';
import { Primary } from '../cluster/primary.js';
import type { Config } from '../config/config.js';
import { ServiceMetrics } from '../ops/metrics.js';
import { runServing, type ServingProcess } from './lifecycle.js';
import { banPolicy, connectionLimits } from './policies.js';
import { localStorageDir, openStorageWithBooks } from './storage.js';
import { loadTls } from './tls.js';
import { prepareUsers } from './users.js';

/**
 * The primary's own part of the start: first start (admin creation) happens once,
 * here, before any worker could race it; the certificate is made (on first start)
 * and checked here, so workers never race to make it and a bad certificate stops
 * the start before any worker is forked.
 */
async function openPrimary(config: Config, logger: Logger): Promise<ServingProcess> {
  await prepareUsers(config, logger);
  const tls = await loadTls(config, logger, { create: true });
  const { storage, books } = await openStorageWithBooks(config, logger);
  const primary = new Primary(config, logger, storage, books, { bans: banPolicy(config), connections: connectionLimits(config) });
  const metrics = new ServiceMetrics(localStorageDir(config), () => primary.listeningWorkers, 'primary');
  return {
    storage,
    drains: 'workers',
    metrics: async () => metrics.exposition(await primary.collect()),
    readiness: () => primary.readiness(),
    serve: async () => {
      await primary.start();
      return { port: primary.servicePort, webPort: primary.webServicePort, fingerprint: tls?.fingerprint };
    },
    hangup: () => void primary.roll(),
    ready: () => logger.info({ event: 'workers-ready', workers: primary.listeningWorkers }, `${primary.listeningWorkers} workers ready`),
    stopping: () => primary.stopping(),
    drain: () => primary.drain(),
    close: () => storage.close(),
  };
}

export function runPrimary(config: Config, logger: Logger): Promise<number> {
  return runServing(config, logger, {
    earlyHangup: () =>
      logger.info({ event: 'reload-skipped' }, 'SIGHUP during start-up ignored: the workers being started take up the current code and configuration'),
    open: () => openPrimary(config, logger),
  });
}
