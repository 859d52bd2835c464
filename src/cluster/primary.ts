/**
 * The cluster primary's workers: forks FERRY_WORKERS workers that share the
 * listening socket, replaces a crashed one (with backoff), rolls them one by one
 * on SIGHUP with no moment without a listener, drains them on SIGTERM/SIGINT, and
 * collects every worker's metrics for one scrape. It never handles a transfer
 * itself; app/primary.ts wires it into the primary process.
 */

import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Readiness } from '../ops/http.js';
import type { MetricsSnapshot } from '../ops/metrics.js';
import type { BanPolicy } from '../auth/bans.js';
import type { ConnectionLimits } from '../server/connection-book.js';
import type { LedgerBooks, Storage } from '../storage/index.js';
import { serveLedger } from './ledger-ipc.js';
import { EXPIRED, withDeadline } from '../io/deadline.js';
import { type FerryError, ferryError, isErrorCode } from '../protocol/errors.js';
import { WORKER_SLOT_VARIABLE, isWorkerMessage, type PrimaryMessage } from './messages.js';
import { PrimaryBooks } from './server-books.js';

const FIRST_RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 10_000;
/** A worker that lived this long resets its slot's backoff. */
const STABLE_AFTER_MS = 30_000;
const METRICS_TIMEOUT_MS = 2_000;
const EXTRA_KILL_GRACE_MS = 5_000;
const WORKER_THREADPOOL_SIZE = 64;

interface Slot {
  index: number;
  /** The worker that listens for this slot. */
  worker: Worker | undefined;
  /** A worker on its way up for this slot: the first, a replacement after a crash, or a rolling one. */
  starting: { worker: Worker; listening: Promise<Worker> } | undefined;
  restarts: number;
  startedAt: number;
  /** Why this slot's last worker could not start; cleared once one listens. */
  failure: string | undefined;
  restartTimer: NodeJS.Timeout | undefined;
}

export class Primary {
  private readonly slots: Slot[];
  private draining = false;
  private rolling = false;
  private port = 0;
  private webPort: number | undefined;
  private nextRequest = 1;
  private readonly replies = new Map<number, (snapshot: MetricsSnapshot) => void>();
  private readonly retired = new Set<Worker>();
  /** Web logouts (session id to its expiry), for workers started after them. */
  private readonly logouts = new Map<string, number>();
  /** The whole server's login and connection books: workers ask, the primary decides. */
  private readonly books: PrimaryBooks;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly storage: Storage,
    /** The whole server's quota and upload-lock books: workers ask over IPC. */
    private readonly ledgerBooks: LedgerBooks,
    policies: { bans: BanPolicy; connections: ConnectionLimits },
  ) {
    this.books = new PrimaryBooks(policies.bans, policies.connections, logger);
    this.slots = Array.from({ length: config.get('workers') }, (_, index) => ({
      index,
      worker: undefined,
      starting: undefined,
      restarts: 0,
      startedAt: 0,
      failure: undefined,
      restartTimer: undefined,
    }));
  }

  get listeningWorkers(): number {
    return this.slots.filter((slot) => slot.worker !== undefined).length;
  }

  get wantedWorkers(): number {
    return this.slots.length;
  }

  /**
   * Forks a worker for `slot`; resolves once it listens, and only then does it take
   * the slot over (a worker it replaces keeps serving until then). Rejects with the
   * worker's own reason if it exits first.
   */
  private fork(slot: Slot): Promise<Worker> {
    const worker = cluster.fork({
      [WORKER_SLOT_VARIABLE]: String(slot.index),
      // Uploads commit (fsync) many files at once; libuv's default 4 threads would queue them.
      UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? String(WORKER_THREADPOOL_SIZE),
      // Each login's argon2id works in 19 MiB; mapped outside the heap, it goes back to the
      // system when done instead of staying in glibc's arena for the life of the worker.
      MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '131072',
    });
    // A message sent to a worker that just died fails with EPIPE on the worker object;
    // unheard, that error would end the primary. Its exit is handled below.
    worker.on('error', (error) => this.logger.debug({ event: 'worker-ipc-error', worker: slot.index, err: error.message }, 'a message to a worker failed'));
    this.books.attach(worker);
    serveLedger(worker, this.ledgerBooks);
    slot.startedAt = Date.now();
    this.logger.info({ event: 'worker-start', worker: slot.index, pid: worker.process.pid }, `worker ${slot.index} starting`);
    let startFailure: FerryError | undefined;
    const listening = new Promise<Worker>((resolveListening, reject) => {
      worker.on('message', (message: unknown) => {
        if (!isWorkerMessage(message)) return;
        switch (message.type) {
          case 'ferry:listening':
            this.port = message.port;
            this.webPort = message.webPort;
            this.listened(slot, worker);
            resolveListening(worker);
            break;
          case 'ferry:start-failed':
            startFailure = ferryError(isErrorCode(message.code) ? message.code : 'INTERNAL', message.reason);
            this.startFailed(slot, message.reason);
            break;
          case 'ferry:metrics':
            this.replies.get(message.id)?.(message.snapshot);
            break;
          case 'ferry:web-logout':
            this.relayLogout(message);
            break;
          case 'ferry:web-logouts?':
            worker.send({ type: 'ferry:web-logouts', logouts: [...this.liveLogouts()] } satisfies PrimaryMessage);
            break;
        }
      });
      worker.once('exit', (code, signal) => {
        reject(startFailure ?? new Error(`worker ${slot.index} exited (${signal ?? code}) before listening`));
        this.onExit(slot, worker, code, signal, startFailure !== undefined);
      });
    });
    slot.starting = { worker, listening };
    return listening;
  }

  private listened(slot: Slot, worker: Worker): void {
    if (slot.starting?.worker === worker) slot.starting = undefined;
    // Told to stop while it was still starting, when it could not yet hear it.
    if (this.retired.has(worker)) {
      worker.send({ type: 'ferry:drain' } satisfies PrimaryMessage);
      return;
    }
    slot.worker = worker;
    if (slot.failure !== undefined) {
      this.logger.info({ event: 'worker-recovered', worker: slot.index }, `worker ${slot.index} listens again`);
      slot.failure = undefined;
    }
  }

  /** Logs why a worker cannot start, once for as long as that reason persists (in any slot). */
  private startFailed(slot: Slot, reason: string): void {
    const known = this.slots.some((other) => other.failure === reason);
    slot.failure = reason;
    if (known) return;
    this.logger.error({ event: 'worker-start-failed', worker: slot.index, reason }, `worker ${slot.index} cannot start: ${reason}`);
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null, failedToStart: boolean): void {
    const planned = this.draining || this.retired.delete(worker);
    // A worker that cannot start has said why; each retry that fails the same way is no news.
    const level = planned ? 'info' : failedToStart ? 'debug' : 'warn';
    this.logger[level]({ event: 'worker-exit', worker: slot.index, pid: worker.process.pid, code, signal }, `worker ${slot.index} exited (${signal ?? `code ${code}`})`);
    if (slot.starting?.worker === worker) slot.starting = undefined;
    else if (slot.worker === worker) slot.worker = undefined;
    else return; // Replaced already.
    if (planned || slot.worker !== undefined) return;
    if (Date.now() - slot.startedAt > STABLE_AFTER_MS) slot.restarts = 0;
    const delay = Math.min(FIRST_RESTART_DELAY_MS * 2 ** slot.restarts, MAX_RESTART_DELAY_MS);
    slot.restarts++;
    this.logger[failedToStart ? 'debug' : 'warn']({ event: 'worker-restart', worker: slot.index, delayMs: delay }, `restarting worker ${slot.index} in ${delay} ms`);
    clearTimeout(slot.restartTimer);
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (!this.draining && slot.worker === undefined && slot.starting === undefined) this.fork(slot).catch(() => undefined);
    }, delay);
  }

  /**
   * Forks every worker. A service with no worker listening cannot serve: that is
   * a failed start, with the workers' own reason (a port in use, a broken users
   * file). With some listening it runs degraded and keeps retrying the others.
   */
  async start(): Promise<void> {
    // --expose-gc lets a worker free transfer buffers early (see server/reclaim.ts).
    cluster.setupPrimary({ silent: false, execArgv: [...process.execArgv, '--expose-gc'] });
    const outcomes = await Promise.allSettled(this.slots.map((slot) => this.fork(slot)));
    const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failure === undefined) return;
    if (this.listeningWorkers === 0) throw failure.reason;
    this.logger.warn({ event: 'degraded', workers: this.listeningWorkers, wanted: this.wantedWorkers }, `running with ${this.listeningWorkers} of ${this.wantedWorkers} workers`);
  }

  /**
   * Replaces each worker in turn: the new one listens before the old one drains. An
   * empty slot (its worker could not start) is filled. A new worker that cannot
   * start stops the roll, and the workers still serving go on serving.
   */
  async roll(): Promise<void> {
    if (this.rolling || this.draining) return;
    this.rolling = true;
    this.logger.info({ event: 'reload' }, 'SIGHUP: restarting workers one by one');
    try {
      for (const slot of this.slots) {
        // A start already under way (a retry after a crash) finishes first, either way.
        await slot.starting?.listening.catch(() => undefined);
        clearTimeout(slot.restartTimer);
        slot.restartTimer = undefined;
        const old = slot.worker;
        await this.fork(slot);
        if (old) await this.retire(old);
      }
      this.logger.info({ event: 'reloaded', workers: this.listeningWorkers }, 'all workers replaced');
    } catch (error) {
      this.logger.error({ event: 'reload-failed', reason: (error as Error).message }, `rolling restart stopped: ${(error as Error).message}; the workers still serving carry on`);
    } finally {
      this.rolling = false;
    }
  }

  /** Tells a worker to drain and waits for it to exit, killing it past the drain timeout. */
  private async retire(worker: Worker): Promise<void> {
    if (worker.isDead()) return;
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

  /** A stop is coming: no longer ready, no crashed worker replaced, no roll begun. */
  stopping(): void {
    this.draining = true;
  }

  async drain(): Promise<void> {
    this.draining = true;
    for (const slot of this.slots) clearTimeout(slot.restartTimer);
    const workers = this.slots.flatMap((slot) => [slot.worker, slot.starting?.worker]).filter((worker): worker is Worker => worker !== undefined);
    await Promise.all(workers.map((worker) => this.retire(worker)));
  }

  /** The web logouts whose sessions have not expired yet, by session id. */
  private liveLogouts(now = Date.now()): Map<string, number> {
    for (const [session, expires] of this.logouts) if (expires <= now) this.logouts.delete(session);
    return this.logouts;
  }

  /**
   * Tells every worker of a web logout, so none accepts that session's cookie again,
   * and keeps it for the workers started later (a rolling restart, a crash restart).
   */
  private relayLogout(message: Extract<PrimaryMessage, { type: 'ferry:web-logout' }>): void {
    if (message.expires > Date.now()) this.liveLogouts().set(message.session, message.expires);
    for (const slot of this.slots) {
      for (const worker of [slot.worker, slot.starting?.worker]) if (worker?.isConnected()) worker.send(message satisfies PrimaryMessage);
    }
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
    const failures = this.slots.flatMap((slot) => (slot.worker === undefined && slot.failure !== undefined ? [`worker ${slot.index} cannot start: ${slot.failure}`] : []));
    const why = failures.length > 0 ? `; ${failures.join('; ')}` : '';
    if (this.listeningWorkers === 0) return { ready: false, reason: `no worker is listening${why}` };
    try {
      await this.storage.checkWritable();
    } catch (error) {
      return { ready: false, reason: `storage is not writable: ${(error as Error).message}` };
    }
    // Degraded still serves: fewer workers share the load, and taking the host out of
    // a load balancer would only move it elsewhere.
    if (this.listeningWorkers < this.wantedWorkers) {
      return { ready: true, reason: `degraded: ${this.listeningWorkers} of ${this.wantedWorkers} workers listening${why}` };
    }
    return { ready: true, reason: `ready: ${this.listeningWorkers} workers listening` };
  }

  get servicePort(): number {
    return this.port;
  }

  /** The web client's port, shared by the workers like the file service's; undefined when it is off. */
  get webServicePort(): number | undefined {
    return this.webPort;
  }
}
