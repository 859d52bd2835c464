import test from 'ava';
import fc from 'fast-check';
import { FerryError } from '../../src/protocol/errors.js';
import { QuotaBook, type HomeLimits, type ReservationRequest, type Usage } from '../../src/storage/quota.js';
import { LedgerBooks } from '../../src/storage/ledger.js';
import { UploadLocks } from '../../src/storage/upload-locks.js';
import { holdsAsync } from './property.js';

const ROOT = '/data/files/dana/';
const MiB = 1024 * 1024;

/** A home whose measured usage the test sets, counting how often it is measured. */
function fakeHome(initial: Usage = { bytes: 0, entries: 0 }) {
  const home = { usage: { ...initial }, measures: 0, clock: 0 };
  const measure = async (): Promise<Usage> => {
    home.measures++;
    return { ...home.usage };
  };
  return { home, measure, now: () => home.clock };
}

function upload(id: string, bytes: number, limits: Partial<HomeLimits> = {}, extra: Partial<ReservationRequest> = {}): ReservationRequest {
  return {
    id,
    root: ROOT,
    location: `${ROOT}${id}.bin`,
    bytes,
    replaced: 0,
    entries: 1,
    limits: { bytes: 0, entries: 0, ...limits },
    resumable: false,
    what: `/${id}.bin`,
    ...extra,
  };
}

async function refused(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return error instanceof FerryError ? error.code : String(error);
  }
}

test('reservations made at once never add up past the quota: exactly the uploads that fit are let in', async (t) => {
  const { measure } = fakeHome();
  const book = new QuotaBook(measure);
  const answers = await Promise.all(Array.from({ length: 8 }, (_, index) => refused(book.reserve(upload(`f${index}`, 900 * 1024, { bytes: MiB }), 'w1'))));
  t.is(answers.filter((answer) => answer === undefined).length, 1);
  t.is(answers.filter((answer) => answer === 'QUOTA_EXCEEDED').length, 7);
});

test('an abort frees its reservation, a commit turns it into usage of every home the file lies in', async (t) => {
  const { measure } = fakeHome();
  const book = new QuotaBook(measure);
  const limits = { bytes: MiB };
  await book.usage('/data/files/'); // An enclosing home, measured before the upload.
  await book.reserve(upload('a', 600 * 1024, limits), 'w1');
  t.is(await refused(book.reserve(upload('b', 600 * 1024, limits), 'w1')), 'QUOTA_EXCEEDED');
  book.release('a');
  await book.reserve(upload('b', 600 * 1024, limits), 'w1');
  book.commit('b');
  t.deepEqual(await book.usage(ROOT), { bytes: 600 * 1024, entries: 1 });
  t.deepEqual(await book.usage('/data/files/'), { bytes: 600 * 1024, entries: 1 });
  t.is(await refused(book.reserve(upload('c', 600 * 1024, limits), 'w1')), 'QUOTA_EXCEEDED');
});

test('replacing a file frees its bytes once, however many uploads replace it at the same time', async (t) => {
  const { measure } = fakeHome({ bytes: 800 * 1024, entries: 1 });
  const book = new QuotaBook(measure);
  const replace = (id: string): ReservationRequest => upload(id, 800 * 1024, { bytes: MiB }, { location: `${ROOT}same.bin`, replaced: 800 * 1024, entries: 0 });
  await book.reserve(replace('one'), 'w1');
  t.is(await refused(book.reserve(replace('two'), 'w2')), 'QUOTA_EXCEEDED');
});

test('a delete marks the home changed, so the next decision measures it again; a measure older than the rescan interval is redone', async (t) => {
  const { home, measure, now } = fakeHome({ bytes: 900 * 1024, entries: 3 });
  const book = new QuotaBook(measure, 1000, now);
  t.is(await refused(book.reserve(upload('a', 200 * 1024, { bytes: MiB }), 'w1')), 'QUOTA_EXCEEDED');
  home.usage = { bytes: 0, entries: 0 };
  book.changed(`${ROOT}old.bin`);
  await book.reserve(upload('a', 200 * 1024, { bytes: MiB }), 'w1');
  book.release('a');
  t.is(home.measures, 2);

  home.usage = { bytes: MiB, entries: 1 }; // Written on disk by other means.
  home.clock = 999;
  await book.reserve(upload('b', 1, { bytes: MiB }), 'w1');
  book.release('b');
  home.clock = 1000;
  t.is(await refused(book.reserve(upload('c', 1, { bytes: MiB }), 'w1')), 'QUOTA_EXCEEDED', 'seen once the interval has passed');
  t.is(home.measures, 3);
});

test('deleting a folder that holds a home marks that home changed too, and leaves unrelated homes alone', async (t) => {
  const { home, measure } = fakeHome();
  const book = new QuotaBook(measure);
  await book.usage(ROOT);
  await book.usage('/data/files/other/');
  t.is(home.measures, 2);
  book.changed('/data/files/dana');
  await book.usage('/data/files/other/');
  t.is(home.measures, 2, 'the other home keeps its figure');
  await book.usage(ROOT);
  t.is(home.measures, 3, 'the home inside the deleted folder is measured again');
});

test('a commit that lands while a measure runs is counted on top of it (too much, never too little)', async (t) => {
  let finish: (usage: Usage) => void = () => undefined;
  const book = new QuotaBook(() => new Promise<Usage>((resolve) => (finish = resolve)));
  const measuring = book.usage(ROOT);
  await book.reserve(upload('a', 100, {}), 'w1');
  book.commit('a');
  finish({ bytes: 50, entries: 2 });
  t.deepEqual(await measuring, { bytes: 150, entries: 3 });
});

test('a commit that lands while a reservation is being decided is counted, as usage or as reserved, never as neither', async (t) => {
  // In a cluster the primary may handle a worker's begin and then, before that begin's
  // decision resumes, the same worker's commit of another upload (both in one IPC read).
  const { measure } = fakeHome();
  const book = new QuotaBook(measure);
  const limits = { bytes: MiB };
  await book.reserve(upload('a', 900 * 1024, limits), 'w1');
  const deciding = refused(book.reserve(upload('b', 900 * 1024, limits), 'w1'));
  book.commit('a');
  t.is(await deciding, 'QUOTA_EXCEEDED');
  t.is(book.reservedBytes(ROOT), 0);
  t.deepEqual(await book.usage(ROOT), { bytes: 900 * 1024, entries: 1 });
});

test('the entry limit counts files and folders, reserved ones included', async (t) => {
  const { measure } = fakeHome({ bytes: 0, entries: 8 });
  const book = new QuotaBook(measure);
  await book.reserve(upload('a', 0, { entries: 10 }, { entries: 2 }), 'w1');
  t.is(await refused(book.add({ id: 'dir', root: ROOT, location: `${ROOT}dir`, bytes: 0, entries: 1, limits: { bytes: 0, entries: 10 }, what: '/dir' }, 'w1')), 'QUOTA_EXCEEDED');
  book.release('a');
  await book.add({ id: 'dir', root: ROOT, location: `${ROOT}dir`, bytes: 0, entries: 1, limits: { bytes: 0, entries: 10 }, what: '/dir' }, 'w1');
  t.deepEqual(await book.usage(ROOT), { bytes: 0, entries: 9 });
});

test('a suspended resumable upload keeps its room; continuing it takes the reservation over instead of counting it twice', async (t) => {
  const { measure } = fakeHome();
  const book = new QuotaBook(measure);
  const limits = { bytes: MiB };
  await book.reserve(upload('partial-key', 700 * 1024, limits, { resumable: true }), 'w1');
  book.ownerGone('w1');
  t.is(book.reservedBytes(ROOT), 700 * 1024, 'the partial still holds its room after its worker died');
  t.is(await refused(book.reserve(upload('other', 700 * 1024, limits), 'w2')), 'QUOTA_EXCEEDED');
  await book.reserve(upload('partial-key', 700 * 1024, limits, { resumable: true }), 'w2');
  t.is(book.reservedBytes(ROOT), 700 * 1024);
});

test('a worker that goes away releases the reservations of its uploads that cannot be resumed', async (t) => {
  const { measure } = fakeHome();
  const book = new QuotaBook(measure);
  await book.reserve(upload('a', 100, { bytes: MiB }), 'w1');
  await book.reserve(upload('b', 100, { bytes: MiB }), 'w2');
  book.ownerGone('w1');
  t.is(book.reservedBytes(ROOT), 100);
});

test('a worker that goes away while its reservation waits for a measure leaves no reservation behind', async (t) => {
  let finish: (usage: Usage) => void = () => undefined;
  const books = new LedgerBooks(() => new Promise<Usage>((resolve) => (finish = resolve)));
  const reserving = books.as('w1').begin(upload('a', 100, { bytes: MiB }));
  books.ownerGone('w1');
  finish({ bytes: 0, entries: 0 });
  await reserving;
  t.is(books.quota.reservedBytes(ROOT), 0);
});

test('property: whatever the order of reserves, commits and releases, reserved plus used never passes the quota', async (t) => {
  const step = fc.record({ op: fc.constantFrom('reserve', 'commit', 'release'), id: fc.integer({ min: 0, max: 5 }), size: fc.integer({ min: 0, max: 600 }) });
  await holdsAsync(
    t,
    fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
      const { measure } = fakeHome();
      const book = new QuotaBook(measure);
      const quota = 1000;
      let used = 0;
      const live = new Map<string, number>();
      await Promise.all(
        steps.map(async ({ op, id, size }) => {
          const key = `u${id}`;
          if (op === 'reserve' && !live.has(key)) {
            live.set(key, -1);
            const answer = await refused(book.reserve(upload(key, size, { bytes: quota }), 'w'));
            if (answer === undefined) live.set(key, size);
            else live.delete(key);
          } else if (op === 'commit' && (live.get(key) ?? -1) >= 0) {
            used += live.get(key) ?? 0;
            live.delete(key);
            book.commit(key);
          } else if (op === 'release' && (live.get(key) ?? -1) >= 0) {
            live.delete(key);
            book.release(key);
          }
          const reserved = [...live.values()].filter((bytes) => bytes > 0).reduce((sum, bytes) => sum + bytes, 0);
          if (used + reserved > quota) throw new Error(`${used} used + ${reserved} reserved > ${quota}`);
        }),
      );
    }),
  );
});

test('an upload lock is held by one upload at a time, whatever process asks, and goes with the process that held it', (t) => {
  const locks = new UploadLocks();
  t.true(locks.acquire('k', 'w1'));
  t.false(locks.acquire('k', 'w1'), 'a second upload in the same process is refused too');
  t.false(locks.acquire('k', 'w2'));
  locks.release('k', 'w2');
  t.true(locks.held('k'), 'only the holder releases');
  locks.ownerGone('w1');
  t.false(locks.held('k'));
  t.true(locks.acquire('k', 'w2'));
});
