/**
 * The one start and stop sequence of a serving process, whichever the process
 * model (one process, or a cluster primary with its workers): the ops HTTP port,
 * then the file service, the announcements and "ready" for a process manager;
 * on SIGTERM or SIGINT a drain in the reverse order.
 */

import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { hangupSignal, stopSignal } from './signals.js';
import { announceClientDownload, loadClientDownload } from '../ops/client-download.js';
import { OpsServer, type Readiness } from '../ops/http.js';
import type { Storage } from '../storage/index.js';
import { advertise, announce, announceWeb, lanAddresses } from './announce.js';
import { sweepPartialsPeriodically } from './storage.js';

/** Where the service listens once it serves. */
interface ServiceAddresses {
  port: number;
  /** The web client's port; undefined when it is off. */
  webPort: number | undefined;
  /** SHA-256 fingerprint of the TLS certificate, when TLS is on. */
  fingerprint: string | undefined;
}

/** A process model, opened: what the shared sequence starts, watches and stops. */
export interface ServingProcess {
  /** The storage whose interrupted uploads this process sweeps. */
  readonly storage: Storage;
  /** What a drain waits for, as the log names it: "connections" or "workers". */
  readonly drains: string;
  /** The whole service's metrics, as one Prometheus exposition. */
  metrics(): Promise<string>;
  readiness(): Promise<Readiness>;
  /** Starts serving, once the ops port listens; rejects when nothing can serve. */
  serve(): Promise<ServiceAddresses>;
  /** SIGHUP once the process serves. */
  hangup(): void;
  /** Serving and announced: the last word before "ready". */
  ready(): void;
  /** A stop signal came: from now on the process is not ready. */
  stopping(): void;
  /** Stops serving; requests in flight finish, up to the drain timeout. */
  drain(): Promise<void>;
  /** Releases what outlives the drain (the storage), once the ops port has closed. */
  close(): Promise<void>;
}

export interface ProcessModel {
  /** What SIGHUP does while the process starts. */
  earlyHangup(): void;
  /** Opens what serving needs (users, certificate, storage) and returns the process to run. */
  open(): Promise<ServingProcess>;
}

/** Runs `model` from start to drained stop; resolves with the exit code. */
export async function runServing(config: Config, logger: Logger, model: ProcessModel): Promise<number> {
  // Installed before anything starts, so that a stop or a SIGHUP that comes early is handled.
  const stopSignalled = stopSignal();
  const onHangup = hangupSignal(() => model.earlyHangup());
  const serving = await model.open();
  const clientDownload = await loadClientDownload(logger);
  const ops = new OpsServer(
    { metrics: () => serving.metrics(), readiness: () => serving.readiness(), clientDownload },
    logger,
    { metricsToken: config.get('ops.token') },
  );
  let opsAddress;
  try {
    opsAddress = await ops.listen(config.get('ops.host'), config.get('ops.port'));
  } catch (error) {
    // Whatever already serves must not go on without its ops port.
    await serving.drain();
    await serving.close();
    throw error;
  }
  logger.info({ event: 'ops-listening', host: opsAddress.address, port: opsAddress.port }, `metrics and health on http://${opsAddress.address}:${opsAddress.port}/metrics`);
  onHangup(() => serving.hangup());

  let addresses: ServiceAddresses;
  try {
    addresses = await serving.serve();
  } catch (error) {
    // Nothing can serve: stop at once, with its reason, rather than run empty.
    await serving.drain();
    await ops.close();
    await serving.close();
    throw error;
  }
  const stopSweeping = sweepPartialsPeriodically(serving.storage, config.get('limits.partialMaxAge'), logger);
  announce(config, logger, addresses.port, addresses.fingerprint);
  announceWeb(config, logger, addresses.webPort, addresses.fingerprint);
  if (clientDownload) announceClientDownload(logger, clientDownload, opsAddress, lanAddresses().map(({ address }) => address));
  const mdns = await advertise(config, logger, addresses.port, addresses.fingerprint, addresses.webPort);
  serving.ready();
  process.send?.('ready');

  const signal = await stopSignalled;
  serving.stopping();
  const started = performance.now();
  logger.info({ event: 'drain', signal }, `${signal}: draining ${serving.drains}`);
  stopSweeping();
  await mdns?.stop();
  await serving.drain();
  await ops.close();
  await serving.close();
  logger.info({ event: 'stopped', drainMs: Math.round(performance.now() - started) }, 'stopped');
  return 0;
}
