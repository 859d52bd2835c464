import { EventEmitter } from 'node:events';
import test from 'ava';
import { IpcLedger } from '../../src/cluster/ledger-ipc.js';
import { type FerryError } from '../../src/protocol/errors.js';
import { LedgerBooks, type BeginRequest, type UploadLedger } from '../../src/storage/ledger.js';

const ROOT = '/data/files/dana/';

interface Request {
  type: string;
  id: number;
  method: keyof UploadLedger;
  args: unknown[];
}

/**
 * A worker's IPC channel wired to real books, as the primary would answer it.
 * `sendResult` is what send() answers (false: much is queued, the message still goes);
 * `hold` keeps answers back until `flush`.
 */
function fakeChannel(books: LedgerBooks, options: { sendResult?: boolean; hold?: boolean } = {}) {
  const channel = new EventEmitter() as EventEmitter & { connected: boolean; send: (message: Request) => boolean };
  const ledger = books.as('worker-1');
  const held: (() => Promise<void>)[] = [];
  const sent: Request[] = [];
  channel.connected = true;
  channel.send = (message) => {
    sent.push(message);
    const answer = async (): Promise<void> => {
      const reply = await (ledger[message.method] as (...values: unknown[]) => Promise<unknown>)(...message.args).then(
        (value) => ({ value }),
        (error: FerryError) => ({ error: { code: error.code, message: error.message } }),
      );
      channel.emit('message', { type: 'ferry:ledger-answer', id: message.id, ...reply });
    };
    if (options.hold) held.push(answer);
    else void answer();
    return options.sendResult ?? true;
  };
  const flush = async (): Promise<void> => {
    // In arrival order, as the primary applies them.
    while (held.length > 0) await held.shift()?.();
  };
  return { channel: channel as unknown as NodeJS.Process, sent, flush };
}

function request(lockKey?: string): BeginRequest {
  return { id: 'upload-1', lockKey, root: ROOT, location: `${ROOT}big.bin`, bytes: 600, replaced: 0, entries: 1, limits: { bytes: 1000, entries: 0 }, what: '/big.bin' };
}

const books = (): LedgerBooks => new LedgerBooks(async () => ({ bytes: 0, entries: 0 }));

test('a request whose send() answers false (much queued) still waits for the answer, which the primary sends', async (t) => {
  const book = books();
  const { channel } = fakeChannel(book, { sendResult: false });
  const ledger = new IpcLedger(channel);
  const begun = await ledger.begin(request('partial-key'));
  t.deepEqual(begun, { id: 'partial-key', resumable: true });
  t.true(book.locks.held('partial-key'));
  await ledger.end(begun.id, 'release', 'partial-key');
  t.false(book.locks.held('partial-key'));
  t.is(book.quota.reservedBytes(ROOT), 0);
});

test('a begin that times out gives back the reservation and lock the primary books when it answers late', async (t) => {
  const book = books();
  const { channel, flush, sent } = fakeChannel(book, { hold: true });
  const ledger = new IpcLedger(channel, 50);
  const error = await t.throwsAsync(ledger.begin(request('partial-key')));
  t.is((error as FerryError).code, 'STORAGE_UNAVAILABLE');
  await flush(); // The primary books the begin now, and the release the worker sent on its answer.
  await flush();
  t.deepEqual(
    sent.map(({ method }) => method),
    ['begin', 'end'],
  );
  t.deepEqual(sent[1]?.args, ['partial-key', 'release', 'partial-key']);
  t.false(book.locks.held('partial-key'));
  t.is(book.quota.reservedBytes(ROOT), 0);
});

test('requests waiting when the primary goes away fail at once with STORAGE_UNAVAILABLE, and later ones fail without being sent', async (t) => {
  const book = books();
  const { channel, sent } = fakeChannel(book, { hold: true });
  const ledger = new IpcLedger(channel, 60_000);
  const waiting = ledger.lock('some-key');
  (channel as unknown as { connected: boolean }).connected = false;
  channel.emit('disconnect');
  const error = await t.throwsAsync(waiting);
  t.is((error as FerryError).code, 'STORAGE_UNAVAILABLE');
  const later = await t.throwsAsync(ledger.lock('other-key'));
  t.is((later as FerryError).code, 'STORAGE_UNAVAILABLE');
  t.is(sent.length, 1);
});
