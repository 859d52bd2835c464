/**
 * Prometheus metrics (names listed in the README's "Health and metrics"). Each
 * worker keeps its own registry, labelled with its stable slot
 * (`worker="0".."N-1"`) so a replaced worker resets only its own series; the
 * primary collects every worker's metrics over IPC and serves them in one scrape
 * together with the service-wide gauges and its own process metrics
 * (`worker="primary"`). Every HELP text lists the values its labels take.
 */

import type { StatsFs } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { ERROR_CODES } from '../protocol/errors.js';
import type { SessionObserver, TransferRecord } from '../server/session.js';
import { VERSION } from '../version.js';

export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** Transfers from 1 KiB on a LAN (milliseconds) to 10 GiB on Wi-Fi (an hour). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/**
 * The `code` label of a transfer: OK, or the code of the error catalogue it
 * failed with (a fixed set, the same code the log line and the client show).
 */
const TRANSFER_OK_CODE = 'OK';
const TRANSFER_CODES = [TRANSFER_OK_CODE, ...Object.keys(ERROR_CODES)];

/** prom-client's process and Node.js metrics, in `registry`. */
function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  // prom-client also exports these gauges under a `_total` name, which promtool
  // rejects as a counter suffix; their plain-named twins stay.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
}

/** A worker's metrics, fed by the server's SessionObserver hooks. */
export class WorkerMetrics implements SessionObserver {
  readonly registry = new Registry();
  private readonly active: Gauge;
  private readonly connections: Counter;
  private readonly auths: Counter<'result'>;
  private readonly transfers: Counter<'direction' | 'result' | 'code'>;
  private readonly bytes: Counter<'direction'>;
  private readonly durations: Histogram<'direction'>;

  constructor(workerSlot: string) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ worker: workerSlot });
    collectProcessMetrics(this.registry);
    this.active = new Gauge({ name: 'ferry_connections_active', help: 'Connections open now. worker: 0..N-1.', registers });
    this.connections = new Counter({ name: 'ferry_connections_total', help: 'Connections accepted. worker: 0..N-1.', registers });
    this.auths = new Counter({
      name: 'ferry_auth_attempts_total',
      help: 'Login attempts. result: success|failure|banned; worker: 0..N-1.',
      labelNames: ['result'],
      registers,
    });
    this.transfers = new Counter({
      name: 'ferry_transfers_total',
      help:
        'Uploads and downloads, including those refused before any byte moved. direction: upload|download; ' +
        'result: ok|error|aborted (connection lost); code: the error code, one of ' +
        `${TRANSFER_CODES.join('|')}; worker: 0..N-1.`,
      labelNames: ['direction', 'result', 'code'],
      registers,
    });
    this.bytes = new Counter({
      name: 'ferry_transfer_bytes_total',
      help: 'Bytes moved by transfers. direction: upload|download; worker: 0..N-1.',
      labelNames: ['direction'],
      registers,
    });
    this.durations = new Histogram({
      name: 'ferry_transfer_duration_seconds',
      help: 'How long transfers take. direction: upload|download; worker: 0..N-1.',
      labelNames: ['direction'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    // Series that exist from the start, so rates and alerts have a zero to begin from.
    for (const result of ['success', 'failure', 'banned']) this.auths.inc({ result }, 0);
    for (const direction of ['upload', 'download']) {
      this.bytes.inc({ direction }, 0);
      this.transfers.inc({ direction, result: 'ok', code: TRANSFER_OK_CODE }, 0);
      this.transfers.inc({ direction, result: 'aborted', code: 'CONNECTION_LOST' }, 0);
    }
  }

  connectionOpened(): void {
    this.active.inc();
    this.connections.inc();
  }

  connectionClosed(): void {
    this.active.dec();
  }

  auth(result: 'success' | 'failure' | 'banned'): void {
    this.auths.inc({ result });
  }

  transfer(record: TransferRecord): void {
    this.transfers.inc({ direction: record.direction, result: record.result, code: record.code ?? TRANSFER_OK_CODE });
    this.bytes.inc({ direction: record.direction }, record.bytes);
    this.durations.observe({ direction: record.direction }, record.seconds);
  }

  snapshot(): Promise<MetricsSnapshot> {
    return this.registry.getMetricsAsJSON();
  }
}

/** The service-wide gauges the primary (or the single process) owns. */
export class ServiceMetrics {
  readonly registry = new Registry();
  /** The primary's own process metrics (a single process has them among its worker metrics already). */
  private readonly own: Registry | undefined;

  /**
   * `dataDir`: the local storage folder, whose volume's size and free space are
   * reported; none for S3. `processLabel`: set in a cluster primary, whose own
   * process metrics would otherwise be missing from the scrape.
   */
  constructor(dataDir: string | undefined, liveWorkers: () => number, processLabel?: string) {
    const registers = [this.registry];
    if (processLabel !== undefined) {
      this.own = new Registry();
      this.own.setDefaultLabels({ worker: processLabel });
      collectProcessMetrics(this.own);
    }
    new Gauge({
      name: 'ferry_build_info',
      help: 'Always 1; the labels say what runs. version: Ferry\'s version; node: the Node.js version.',
      labelNames: ['version', 'node'],
      registers,
    }).set({ version: VERSION, node: process.versions.node }, 1);
    new Gauge({
      name: 'ferry_workers',
      help: 'Worker processes serving connections.',
      registers,
      collect() {
        this.set(liveWorkers());
      },
    });
    if (dataDir === undefined) return;
    const volumeGauge = (name: string, help: string, bytes: (stats: StatsFs) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const stats = await statfs(dataDir).catch(() => undefined);
          if (stats) this.set(bytes(stats));
        },
      });
    };
    volumeGauge('ferry_storage_free_bytes', 'Bytes free for Ferry on the local storage volume.', (stats) => stats.bavail * stats.bsize);
    volumeGauge('ferry_storage_size_bytes', 'Total size of the local storage volume.', (stats) => stats.blocks * stats.bsize);
  }

  /** One exposition of these gauges, the primary's process metrics and every worker's snapshot. */
  async exposition(workers: MetricsSnapshot[]): Promise<string> {
    const own = this.own ? [await this.own.getMetricsAsJSON()] : [];
    const merged = AggregatorRegistry.aggregate([await this.registry.getMetricsAsJSON(), ...own, ...workers]);
    return merged.metrics();
  }
}
