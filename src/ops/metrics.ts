/**
 * Prometheus metrics (names fixed by SPEC section 4). Each worker keeps its own
 * registry, labelled with its stable slot (`worker="0".."N-1"`) so a replaced
 * worker resets only its own series; the primary collects every worker's metrics
 * over IPC and serves them in one scrape together with the service-wide gauges.
 */

import { statfs } from 'node:fs/promises';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { SessionObserver, TransferRecord } from '../server/session.js';

export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** Transfers from 1 KiB on a LAN (milliseconds) to 10 GiB on Wi-Fi (an hour). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** A worker's metrics, fed by the server's SessionObserver hooks. */
export class WorkerMetrics implements SessionObserver {
  readonly registry = new Registry();
  private readonly active: Gauge;
  private readonly connections: Counter;
  private readonly auths: Counter<'result'>;
  private readonly transfers: Counter<'direction' | 'result'>;
  private readonly bytes: Counter<'direction'>;
  private readonly durations: Histogram<'direction'>;

  constructor(workerSlot: string) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ worker: workerSlot });
    collectDefaultMetrics({ register: this.registry });
    // prom-client also exports these gauges under a `_total` name, which promtool
    // rejects as a counter suffix; their plain-named twins stay.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.registry.removeSingleMetric(name);
    }
    this.active = new Gauge({ name: 'ferry_connections_active', help: 'Connections open now.', registers });
    this.connections = new Counter({ name: 'ferry_connections_total', help: 'Connections accepted.', registers });
    this.auths = new Counter({ name: 'ferry_auth_attempts_total', help: 'Login attempts by result.', labelNames: ['result'], registers });
    this.transfers = new Counter({
      name: 'ferry_transfers_total',
      help: 'Uploads and downloads by result.',
      labelNames: ['direction', 'result'],
      registers,
    });
    this.bytes = new Counter({ name: 'ferry_transfer_bytes_total', help: 'Bytes moved by transfers.', labelNames: ['direction'], registers });
    this.durations = new Histogram({
      name: 'ferry_transfer_duration_seconds',
      help: 'How long transfers take.',
      labelNames: ['direction'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    // Series that exist from the start, so rates and alerts have a zero to begin from.
    for (const result of ['success', 'failure', 'banned']) this.auths.inc({ result }, 0);
    for (const direction of ['upload', 'download']) {
      this.bytes.inc({ direction }, 0);
      for (const result of ['ok', 'error', 'aborted']) this.transfers.inc({ direction, result }, 0);
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
    this.transfers.inc({ direction: record.direction, result: record.result });
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

  /** `dataDir`: the local storage folder, whose volume's free space is reported; none for S3. */
  constructor(dataDir: string | undefined, liveWorkers: () => number) {
    const registers = [this.registry];
    new Gauge({
      name: 'ferry_workers',
      help: 'Worker processes serving connections.',
      registers,
      collect() {
        this.set(liveWorkers());
      },
    });
    if (dataDir === undefined) return;
    new Gauge({
      name: 'ferry_storage_free_bytes',
      help: 'Free bytes on the local storage volume.',
      registers,
      async collect() {
        const stats = await statfs(dataDir).catch(() => undefined);
        if (stats) this.set(stats.bavail * stats.bsize);
      },
    });
  }

  /** One exposition of these gauges plus every worker's snapshot. */
  async exposition(workers: MetricsSnapshot[]): Promise<string> {
    const merged = AggregatorRegistry.aggregate([await this.registry.getMetricsAsJSON(), ...workers]);
    return merged.metrics();
  }
}
