import test from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { FolderSyncs } from '../../src/storage/local/folder-syncs.js';
import { holdsAsync } from './property.js';

interface FakeSync {
  dir: string;
  /** Logical time the fsync began. */
  began: number;
  finished: boolean;
  finish(): void;
}

/** A fake fsync that the test finishes by hand, recording when each one began. */
function fakeFsyncs() {
  const clock = { now: 0 };
  const syncs: FakeSync[] = [];
  const fsync = (dir: string): Promise<void> =>
    new Promise((resolve) => {
      const sync: FakeSync = { dir, began: clock.now, finished: false, finish: () => ((sync.finished = true), resolve()) };
      syncs.push(sync);
    });
  return { fsync, syncs, clock };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('every caller is released only after an fsync of its folder that began after it asked', async (t) => {
  const step = fc.oneof(fc.constantFrom('a', 'b'), fc.constant('finish'));
  await holdsAsync(
    t,
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
      const fake = fakeFsyncs();
      const folders = new FolderSyncs(fake.fsync);
      const callers: { dir: string; asked: number; released: boolean }[] = [];
      const violations: string[] = [];
      const release = (caller: { dir: string; asked: number; released: boolean }) => () => {
        caller.released = true;
        const covering = fake.syncs.some((sync) => sync.dir === caller.dir && sync.finished && sync.began >= caller.asked);
        if (!covering) violations.push(`a caller of ${caller.dir} at time ${caller.asked} was released with no later fsync finished`);
      };
      for (const action of steps) {
        fake.clock.now++;
        if (action === 'finish') fake.syncs.find((sync) => !sync.finished)?.finish();
        else {
          const caller = { dir: action, asked: fake.clock.now, released: false };
          callers.push(caller);
          void folders.sync(action).then(release(caller));
        }
        await settle();
      }
      for (let round = 0; round < 100 && callers.some((caller) => !caller.released); round++) {
        fake.clock.now++;
        for (const sync of fake.syncs) if (!sync.finished) sync.finish();
        await settle();
      }
      assert.deepEqual(violations, []);
      assert.ok(callers.every((caller) => caller.released), 'every caller is released in the end');
      assert.ok(fake.syncs.length <= callers.length, 'never more fsyncs than callers');
      return true;
    }),
  );
});

test('callers that arrive while an fsync waits to begin share it', async (t) => {
  const fake = fakeFsyncs();
  const folders = new FolderSyncs(fake.fsync);
  const first = folders.sync('d');
  await settle();
  t.is(fake.syncs.length, 1, 'the first fsync began');
  const waiting = [folders.sync('d'), folders.sync('d'), folders.sync('d')];
  await settle();
  t.is(fake.syncs.length, 1, 'the next one waits for the running one');
  fake.syncs[0]?.finish();
  await first;
  await settle();
  t.is(fake.syncs.length, 2, 'one fsync for the three that waited');
  fake.syncs[1]?.finish();
  await Promise.all(waiting);
});

test('an fsync begun for a caller that holds the folder open goes through that descriptor, and later callers share it', async (t) => {
  const fake = fakeFsyncs();
  const folders = new FolderSyncs(fake.fsync);
  let viaHandle = 0;
  let finishHandle = (): void => undefined;
  const first = folders.sync('a', () => {
    viaHandle++;
    return new Promise<void>((resolve) => (finishHandle = resolve));
  });
  const second = folders.sync('a', () => Promise.reject(new Error('not the one run')));
  await settle();
  t.is(viaHandle, 1);
  t.is(fake.syncs.length, 0, 'no fsync by path');
  finishHandle();
  await Promise.all([first, second]);
});
