/**
 * The upload ledger across the cluster: the primary keeps the one quota book and
 * lock book (storage/ledger.ts); each worker asks it over IPC with a small
 * request/answer protocol of its own message types. Every request carries an id
 * that its answer repeats; a refusal travels as an error code and message. The
 * primary applies requests to the books in the order they arrive, and a worker
 * waits for the answer before it answers its client, so a delete is booked before
 * any upload that follows it is checked, on whichever worker. When a worker exits, the primary drops its
 * locks and releases (or, for resumable uploads, suspends) its reservations.
 */

import type { Worker } from 'node:cluster';
import { asFerryError, ferryError, isErrorCode } from '../protocol/errors.js';
import { EXPIRED, withDeadline } from '../io/deadline.js';
import type { LedgerBooks, UploadLedger } from '../storage/index.js';

/** A primary that does not answer in this time is taken as gone. */
const ANSWER_TIMEOUT_MS = 30_000;

const METHODS = new Set<string>(['begin', 'end', 'add', 'changed', 'lock', 'unlock', 'locked'] satisfies (keyof UploadLedger)[]);

type Method = keyof UploadLedger;

interface LedgerRequest {
  type: 'ferry:ledger';
  id: number;
  method: Method;
  args: unknown[];
}

interface LedgerAnswer {
  type: 'ferry:ledger-answer';
  id: number;
  value?: unknown;
  error?: { code: string; message: string };
}

function isMessage<T extends { type: string }>(type: T['type'], message: unknown): message is T {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}

/** Primary side: answers one worker's ledger requests from the books, and cleans up after it when it exits. */
export function serveLedger(worker: Worker, books: LedgerBooks): void {
  const owner = `worker-${worker.id}`;
  const ledger = books.as(owner);
  const answer = (message: LedgerAnswer): void => {
    if (worker.isConnected()) worker.send(message);
  };
  worker.on('message', (message: unknown) => {
    if (!isMessage<LedgerRequest>('ferry:ledger', message)) return;
    const { id, method, args } = message;
    const call = async (): Promise<unknown> => {
      if (!METHODS.has(method)) throw new Error(`no ledger method ${String(method)}`);
      // The worker is this server's own code: its arguments are what its ledger's types allow.
      return (ledger[method] as (...values: unknown[]) => Promise<unknown>)(...args);
    };
    call().then(
      (value) => answer({ type: 'ferry:ledger-answer', id, value }),
      (error: unknown) => {
        const failure = asFerryError(error);
        answer({ type: 'ferry:ledger-answer', id, error: { code: failure.code, message: failure.message } });
      },
    );
  });
  worker.once('exit', () => books.ownerGone(owner));
}

const PRIMARY_GONE = (): Error => ferryError('STORAGE_UNAVAILABLE', 'this worker lost touch with the server primary; try again in a moment');

interface Waiter {
  resolve: (answer: LedgerAnswer) => void;
  reject: (error: Error) => void;
}

/** Worker side: the ledger, asked of the primary. */
export class IpcLedger implements UploadLedger {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiter>();

  constructor(
    private readonly channel: NodeJS.Process = process,
    private readonly answerTimeoutMs = ANSWER_TIMEOUT_MS,
  ) {
    channel.on('message', (message: unknown) => {
      if (isMessage<LedgerAnswer>('ferry:ledger-answer', message)) this.waiting.get(message.id)?.resolve(message);
    });
    // Without the primary no answer will come: fail what waits now rather than after the timeout.
    channel.once('disconnect', () => {
      for (const waiter of this.waiting.values()) waiter.reject(PRIMARY_GONE());
      this.waiting.clear();
    });
  }

  readonly begin = async (...args: Parameters<UploadLedger['begin']>): Promise<{ id: string; resumable: boolean }> => {
    const [request] = args;
    // A begin this worker gave up on may still be booked by the primary (it answers late):
    // whatever it reserved and locked is given back as soon as that late answer comes.
    return this.ask('begin', args, (late) => {
      if (late.error) return;
      const { id, resumable } = late.value as { id: string; resumable: boolean };
      void this.end(id, 'release', resumable ? request.lockKey : undefined).catch(() => undefined);
    });
  };
  readonly end = (...args: Parameters<UploadLedger['end']>): Promise<void> => this.ask('end', args);
  readonly add = (...args: Parameters<UploadLedger['add']>): Promise<void> => this.ask('add', args);
  readonly changed = (location: string): Promise<void> => this.ask('changed', [location]);
  readonly lock = (key: string): Promise<boolean> => this.ask('lock', [key]);
  readonly unlock = (key: string): Promise<void> => this.ask('unlock', [key]);
  readonly locked = (key: string): Promise<boolean> => this.ask('locked', [key]);

  private async ask<M extends Method>(
    method: M,
    args: Parameters<UploadLedger[M]>,
    lateAnswer?: (answer: LedgerAnswer) => void,
  ): Promise<Awaited<ReturnType<UploadLedger[M]>>> {
    if (!this.channel.send || !this.channel.connected) throw PRIMARY_GONE();
    const id = this.nextId++;
    const answered = new Promise<LedgerAnswer>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    let expired = false;
    try {
      // send() answers false when much is queued, yet the message still goes: only a lost channel fails.
      this.channel.send({ type: 'ferry:ledger', id, method, args } satisfies LedgerRequest);
      const answer = await withDeadline(answered, this.answerTimeoutMs);
      if (answer === EXPIRED) {
        expired = true;
        throw ferryError('STORAGE_UNAVAILABLE', "the server's quota book did not answer in time; try again in a moment");
      }
      if (answer.error) throw ferryError(isErrorCode(answer.error.code) ? answer.error.code : 'INTERNAL', answer.error.message);
      // The primary ran this very method: its answer has the method's type.
      return answer.value as Awaited<ReturnType<UploadLedger[M]>>;
    } finally {
      if (expired && lateAnswer) {
        this.waiting.set(id, {
          resolve: (answer) => {
            this.waiting.delete(id);
            lateAnswer(answer);
          },
          // The primary is gone, and with it what this request booked.
          reject: () => undefined,
        });
      } else {
        this.waiting.delete(id);
      }
    }
  }
}
