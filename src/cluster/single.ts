/**
 * FERRY_WORKERS=0: the whole service in one process (file service, ops HTTP and
 * metrics), as tests and small hosts run it.
 */

import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { announceClientDownload, loadClientDownload } from '../ops/client-download.js';
import { OpsServer } from '../ops/http.js';
import { ServiceMetrics, WorkerMetrics } from '../ops/metrics.js';
import { advertise, announce, announceWeb, lanAddresses } from '../app/announce.js';
import { startService } from '../app/service.js';
import { localStorageDir, sweepPartialsPeriodically } from '../app/storage.js';
import { hangupSignal, stopSignal } from './signals.js';

export async function runSingleProcess(config: Config, logger: Logger): Promise<number> {
  const stopping = stopSignal();
  // One process has no workers to roll: SIGHUP must not kill it undrained, so it is only noted.
  hangupSignal(() =>
    logger.info({ event: 'reload-skipped' }, 'SIGHUP ignored: with FERRY_WORKERS=0 there are no workers to restart; restart the service to take up new code or configuration'),
  );
  let draining = false;
  const metrics = new WorkerMetrics('0');
  const service = await startService(config, logger, { observer: metrics });
  const serviceMetrics = new ServiceMetrics(localStorageDir(config), () => (draining ? 0 : 1));
  const clientDownload = await loadClientDownload(logger);
  const ops = new OpsServer(
    {
      metrics: async () => serviceMetrics.exposition([await metrics.snapshot()]),
      readiness: async () => {
        if (draining) return { ready: false, reason: 'draining' };
        return service.storage.checkWritable().then(
          () => ({ ready: true, reason: 'ready' }),
          (error: unknown) => ({ ready: false, reason: `storage is not writable: ${(error as Error).message}` }),
        );
      },
      clientDownload,
    },
    logger,
    { metricsToken: config.get('ops.token') },
  );
  let opsAddress;
  try {
    opsAddress = await ops.listen(config.get('ops.host'), config.get('ops.port'));
  } catch (error) {
    // The file service already listens: it must not go on serving without its ops port.
    await service.stop();
    throw error;
  }
  logger.info({ event: 'ops-listening', host: opsAddress.address, port: opsAddress.port }, `metrics and health on http://${opsAddress.address}:${opsAddress.port}/metrics`);
  const stopSweeping = sweepPartialsPeriodically(service.storage, config.get('limits.partialMaxAge'), logger);
  announce(config, logger, service.port, service.fingerprint);
  announceWeb(config, logger, service.webPort, service.fingerprint);
  if (clientDownload) announceClientDownload(logger, clientDownload, opsAddress, lanAddresses().map(({ address }) => address));
  const mdns = await advertise(config, logger, service.port, service.fingerprint, service.webPort);
  process.send?.('ready');

  const signal = await stopping;
  draining = true;
  const started = performance.now();
  logger.info({ event: 'drain', signal }, `${signal}: draining connections`);
  stopSweeping();
  await mdns?.stop();
  await service.stop();
  await ops.close();
  logger.info({ event: 'stopped', drainMs: Math.round(performance.now() - started) }, 'stopped');
  return 0;
}
