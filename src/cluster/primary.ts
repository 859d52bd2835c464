/**
 * The cluster primary: forks FERRY_WORKERS workers that share the listening
 * socket, replaces a crashed one (with backoff), rolls them one by one on SIGHUP
 * with no moment without a listener, drains them on SIGTERM/SIGINT, and serves
 * the ops HTTP endpoints with every worker's metrics in one scrape. It never
 * handles a transfer itself.
 */

import cluster, { type Worker } from 'node:cluster';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Config } from '../ops/config.js';
import { OpsServer, type Readiness } from '../ops/http.js';
import { ServiceMetrics, type MetricsSnapshot } from '../ops/metrics.js';
import { BanBook } from '../auth/bans.js';
import { advertise, announce, localStorageDir, banPolicy, loadTls, openStorageWithBooks, prepareUsers, sweepPartialsPeriodically } from '../server/service.js';
import type { LedgerBooks } from '../storage/ledger.js';
import type { Storage } from '../storage/storage.js';
import { serveLedger } from './ledger-ipc.js';
import { EXPIRED, withDeadline } from '../io/deadline.js';
import { isWorkerMessage, type PrimaryMessage } from './messages.js';
import { stopSignal } from './signals.js';

const FIRST_RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 10_000;
/** A worker that lived this long resets its slot's backoff. */
const STABLE_AFTER_MS = 30_000;
const METRICS_TIMEOUT_MS = 2_000;
const EXTRA_KILL_GRACE_MS = 5_000;
const WORKER_THREADPOOL_SIZE = 64;

interface Slot {
  index: number;
  worker: Worker | undefined;
  listening: boolean;
  restarts: number;
  startedAt: number;
}

class Primary {
  private readonly slots: Slot[];
  private draining = false;
  private rolling = false;
  private port = 0;
  private nextRequest = 1;
  private readonly replies = new Map<number, (snapshot: MetricsSnapshot) => void>();
  private readonly retired = new Set<Worker>();
  /** The cluster's one ban book: workers report logins, the primary decides bans. */
  private readonly bans: BanBook;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly storage: Storage,
    private readonly books: LedgerBooks,
  ) {
    this.bans = new BanBook(banPolicy(config));
    this.slots = Array.from({ length: config.get('workers') }, (_, index) => ({ index, worker: undefined, listening: false, restarts: 0, startedAt: 0 }));
  }

  get listeningWorkers(): number {
    return this.slots.filter((slot) => slot.listening).length;
  }

  /** Forks a worker for `slot`; resolves once it listens (or rejects if it dies first). */
  private fork(slot: Slot): Promise<Worker> {
    const worker = cluster.fork({
      FERRY_WORKER_SLOT: String(slot.index),
      // Uploads commit (fsync) many files at once; libuv's default 4 threads would queue them.
      UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? String(WORKER_THREADPOOL_SIZE),
      // Each login's scrypt works in 16 MiB; mapped outside the heap, it goes back to the
      // system when done instead of staying in glibc's arena for the life of the worker.
      MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '131072',
    });
    slot.worker = worker;
    serveLedger(worker, this.books);
    worker.once('online', () => {
      for (const [ip, until] of this.bans.activeBans()) worker.send({ type: 'ferry:ban', ip, until } satisfies PrimaryMessage);
    });
    slot.listening = false;
    slot.startedAt = Date.now();
    this.logger.info({ event: 'worker-start', worker: slot.index, pid: worker.process.pid }, `worker ${slot.index} starting`);
    return new Promise((resolveListening, reject) => {
      worker.on('message', (message: unknown) => {
        if (!isWorkerMessage(message)) return;
        switch (message.type) {
          case 'ferry:listening':
            if (slot.worker === worker) slot.listening = true;
            this.port = message.port;
            resolveListening(worker);
            break;
          case 'ferry:metrics':
            this.replies.get(message.id)?.(message.snapshot);
            break;
          case 'ferry:login-failed':
            this.loginFailed(message.ip);
            break;
          case 'ferry:login-ok':
            this.bans.recordSuccess(message.ip);
            break;
        }
      });
      worker.once('exit', (code, signal) => {
        reject(new Error(`worker ${slot.index} exited (${signal ?? code}) before listening`));
        this.onExit(slot, worker, code, signal);
      });
    });
  }

  private loginFailed(ip: string): void {
    const until = this.bans.recordFailure(ip);
    if (until === undefined) return;
    this.logger.warn({ event: 'ban', remote: ip, until: new Date(until).toISOString() }, `banned ${ip} after repeated failed logins`);
    for (const slot of this.slots) {
      if (slot.worker?.isConnected()) slot.worker.send({ type: 'ferry:ban', ip, until } satisfies PrimaryMessage);
    }
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    const planned = this.draining || this.retired.delete(worker);
    this.logger[planned ? 'info' : 'warn'](
      { event: 'worker-exit', worker: slot.index, pid: worker.process.pid, code, signal },
      `worker ${slot.index} exited (${signal ?? `code ${code}`})`,
    );
    if (slot.worker !== worker) return;
    slot.listening = false;
    slot.worker = undefined;
    if (planned) return;
    if (Date.now() - slot.startedAt > STABLE_AFTER_MS) slot.restarts = 0;
    const delay = Math.min(FIRST_RESTART_DELAY_MS * 2 ** slot.restarts, MAX_RESTART_DELAY_MS);
    slot.restarts++;
    this.logger.warn({ event: 'worker-restart', worker: slot.index, delayMs: delay }, `restarting worker ${slot.index} in ${delay} ms`);
    void sleep(delay).then(() => {
      if (!this.draining && slot.worker === undefined) this.fork(slot).catch(() => undefined);
    });
  }

  async start(): Promise<void> {
    // --expose-gc lets a worker free transfer buffers early (see server/reclaim.ts).
    cluster.setupPrimary({ silent: false, execArgv: [...process.execArgv, '--expose-gc'] });
    await Promise.all(this.slots.map((slot) => this.fork(slot)));
  }

  /** Replaces each worker in turn: the new one listens before the old one drains. */
  async roll(): Promise<void> {
    if (this.rolling || this.draining) return;
    this.rolling = true;
    this.logger.info({ event: 'reload' }, 'SIGHUP: restarting workers one by one');
    try {
      for (const slot of this.slots) {
        const old = slot.worker;
        await this.fork(slot);
        if (old) await this.retire(old);
      }
      this.logger.info({ event: 'reloaded' }, 'all workers replaced');
    } catch (error) {
      this.logger.error({ err: error }, 'rolling restart stopped');
    } finally {
      this.rolling = false;
    }
  }

  /** Tells a worker to drain and waits for it to exit, killing it past the drain timeout. */
  private async retire(worker: Worker): Promise<void> {
    this.retired.add(worker);
    const exited = new Promise<void>((done) => worker.once('exit', () => done()));
    if (worker.isConnected()) worker.send({ type: 'ferry:drain' } satisfies PrimaryMessage);
    const timeout = this.config.get('limits.drainTimeout') + EXTRA_KILL_GRACE_MS;
    if ((await withDeadline(exited, timeout)) === EXPIRED) {
      this.logger.warn({ event: 'worker-kill', pid: worker.process.pid }, 'worker did not drain in time; killing it');
      worker.process.kill('SIGKILL');
      await exited;
    }
  }

  async drain(): Promise<void> {
    this.draining = true;
    await Promise.all(this.slots.flatMap((slot) => (slot.worker ? [this.retire(slot.worker)] : [])));
  }

  /** Every live worker's metrics; a worker that does not answer in time is left out. */
  async collect(): Promise<MetricsSnapshot[]> {
    const workers = this.slots.flatMap((slot) => (slot.worker?.isConnected() ? [slot.worker] : []));
    const answers = await Promise.all(
      workers.map((worker) => {
        const id = this.nextRequest++;
        const answer = new Promise<MetricsSnapshot>((done) => {
          this.replies.set(id, done);
          worker.send({ type: 'ferry:metrics?', id } satisfies PrimaryMessage);
        });
        return withDeadline(answer, METRICS_TIMEOUT_MS).finally(() => this.replies.delete(id));
      }),
    );
    return answers.filter((answer): answer is MetricsSnapshot => answer !== EXPIRED);
  }

  async readiness(): Promise<Readiness> {
    if (this.draining) return { ready: false, reason: 'draining' };
    if (this.listeningWorkers === 0) return { ready: false, reason: 'no worker is listening yet' };
    try {
      await this.storage.checkWritable();
    } catch (error) {
      return { ready: false, reason: `storage is not writable: ${(error as Error).message}` };
    }
    return { ready: true, reason: `ready: ${this.listeningWorkers} workers listening` };
  }

  get servicePort(): number {
    return this.port;
  }
}

export async function runPrimary(config: Config, logger: Logger): Promise<number> {
  const stopping = stopSignal();
  // First start (admin creation) happens once, here, before any worker could race it.
  await prepareUsers(config, logger);
  // Checked here too, so a bad certificate stops the start before any worker is forked.
  const tls = await loadTls(config);
  const { storage, books } = await openStorageWithBooks(config, logger);
  const primary = new Primary(config, logger, storage, books);
  const metrics = new ServiceMetrics(localStorageDir(config), () => primary.listeningWorkers);
  const ops = new OpsServer(
    { metrics: async () => metrics.exposition(await primary.collect()), readiness: () => primary.readiness() },
    logger,
  );
  const opsAddress = await ops.listen(config.get('ops.host'), config.get('ops.port'));
  logger.info({ event: 'ops-listening', host: opsAddress.address, port: opsAddress.port }, `metrics and health on http://${opsAddress.address}:${opsAddress.port}/metrics`);
  process.on('SIGHUP', () => void primary.roll());

  await primary.start();
  const stopSweeping = sweepPartialsPeriodically(storage, config.get('limits.partialMaxAge'), logger);
  announce(config, logger, primary.servicePort, tls?.fingerprint);
  const mdns = await advertise(config, logger, primary.servicePort, tls?.fingerprint);
  logger.info({ event: 'workers-ready', workers: primary.listeningWorkers }, `${primary.listeningWorkers} workers ready`);
  process.send?.('ready');

  const signal = await stopping;
  const started = performance.now();
  logger.info({ event: 'drain', signal }, `${signal}: draining workers`);
  stopSweeping();
  await mdns?.stop();
  await primary.drain();
  await ops.close();
  await storage.close();
  logger.info({ event: 'stopped', drainMs: Math.round(performance.now() - started) }, 'stopped');
  return 0;
}
