/**
 * FERRY_WORKERS=0: the whole service in one process (file service, ops HTTP and
 * metrics), as tests and small hosts run it.
 */

import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { settingAssignment } from '../config/schema.js';
import { runServing, type ProcessModel, type ServingProcess } from './lifecycle.js';
import { startService } from './service.js';
import { localStorageDir } from './storage.js';
import { ServiceMetrics, WorkerMetrics } from '../ops/metrics.js';

/** The file service starts before the ops port opens, so readiness never reports a service not yet there. */
async function openSingle(config: Config, logger: Logger): Promise<ServingProcess> {
  let draining = false;
  const metrics = new WorkerMetrics('0');
  const service = await startService(config, logger, { observer: metrics });
  const serviceMetrics = new ServiceMetrics(localStorageDir(config), () => (draining ? 0 : 1));
  return {
    storage: service.storage,
    drains: 'connections',
    metrics: async () => serviceMetrics.exposition([await metrics.snapshot()]),
    readiness: async () => {
      if (draining) return { ready: false, reason: 'draining' };
      return service.storage.checkWritable().then(
        () => ({ ready: true, reason: 'ready' }),
        (error: unknown) => ({ ready: false, reason: `storage is not writable: ${(error as Error).message}` }),
      );
    },
    serve: async () => ({ port: service.port, webPort: service.webPort, fingerprint: service.fingerprint }),
    hangup: () => skipHangup(logger),
    ready: () => undefined,
    stopping: () => {
      draining = true;
    },
    drain: () => service.stop(),
    close: async () => undefined,
  };
}

/** One process has no workers to roll: SIGHUP must not kill it undrained, so it is only noted. */
function skipHangup(logger: Logger): void {
  logger.info({ event: 'reload-skipped' }, `SIGHUP ignored: with ${settingAssignment('workers', '0')} there are no workers to restart; restart the service to take up new code or configuration`);
}

export function runSingleProcess(config: Config, logger: Logger): Promise<number> {
  const model: ProcessModel = { earlyHangup: () => skipHangup(logger), open: () => openSingle(config, logger) };
  return runServing(config, logger, model);
}
