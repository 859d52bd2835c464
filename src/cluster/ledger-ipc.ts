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
import type { LedgerBooks, UploadLedger } from '../storage/ledger.js';

/** A primary that does not answer in this time is taken as gone. */
const ANSWER_TIMEOUT_MS = 30_000;

type Call = { [M in keyof UploadLedger]: { method: M; args: Parameters<UploadLedger[M]> } }[keyof UploadLedger];

interface LedgerRequest {
  type: 'ferry:ledger';
  id: number;
  call: Call;
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

/** Runs one call against the books on behalf of `ledger`'s owner. */
function run(ledger: UploadLedger, call: Call): Promise<unknown> {
  switch (call.method) {
    case 'reserve':
      return ledger.reserve(...call.args);
    case 'add':
      return ledger.add(...call.args);
    case 'commit':
      return ledger.commit(...call.args);
    case 'release':
      return ledger.release(...call.args);
    case 'suspend':
      return ledger.suspend(...call.args);
    case 'changed':
      return ledger.changed(...call.args);
    case 'lock':
      return ledger.lock(...call.args);
    case 'unlock':
      return ledger.unlock(...call.args);
    case 'locked':
      return ledger.locked(...call.args);
  }
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
    run(ledger, message.call).then(
      (value) => answer({ type: 'ferry:ledger-answer', id: message.id, value }),
      (error: unknown) => {
        const failure = asFerryError(error);
        answer({ type: 'ferry:ledger-answer', id: message.id, error: { code: failure.code, message: failure.message } });
      },
    );
  });
  worker.once('exit', () => books.ownerGone(owner));
}

/** Worker side: the ledger, asked of the primary. */
export class IpcLedger implements UploadLedger {
  private nextId = 1;
  private readonly waiting = new Map<number, (answer: LedgerAnswer) => void>();

  constructor(private readonly channel: NodeJS.Process = process) {
    channel.on('message', (message: unknown) => {
      if (isMessage<LedgerAnswer>('ferry:ledger-answer', message)) this.waiting.get(message.id)?.(message);
    });
  }

  private async ask(call: Call): Promise<unknown> {
    const id = this.nextId++;
    const answered = new Promise<LedgerAnswer>((resolve) => this.waiting.set(id, resolve));
    try {
      if (!this.channel.send?.({ type: 'ferry:ledger', id, call } satisfies LedgerRequest)) {
        throw ferryError('STORAGE_UNAVAILABLE', 'this worker lost touch with the server primary; try again in a moment');
      }
      const answer = await withDeadline(answered, ANSWER_TIMEOUT_MS);
      if (answer === EXPIRED) throw ferryError('STORAGE_UNAVAILABLE', "the server's quota book did not answer in time; try again in a moment");
      if (answer.error) throw ferryError(isErrorCode(answer.error.code) ? answer.error.code : 'INTERNAL', answer.error.message);
      return answer.value;
    } finally {
      this.waiting.delete(id);
    }
  }

  async reserve(...args: Parameters<UploadLedger['reserve']>): Promise<void> {
    await this.ask({ method: 'reserve', args });
  }

  async add(...args: Parameters<UploadLedger['add']>): Promise<void> {
    await this.ask({ method: 'add', args });
  }

  async commit(id: string): Promise<void> {
    await this.ask({ method: 'commit', args: [id] });
  }

  async release(id: string): Promise<void> {
    await this.ask({ method: 'release', args: [id] });
  }

  async suspend(id: string): Promise<void> {
    await this.ask({ method: 'suspend', args: [id] });
  }

  async changed(location: string): Promise<void> {
    await this.ask({ method: 'changed', args: [location] });
  }

  async lock(key: string): Promise<boolean> {
    return (await this.ask({ method: 'lock', args: [key] })) === true;
  }

  async unlock(key: string): Promise<void> {
    await this.ask({ method: 'unlock', args: [key] });
  }

  async locked(key: string): Promise<boolean> {
    return (await this.ask({ method: 'locked', args: [key] })) === true;
  }
}
