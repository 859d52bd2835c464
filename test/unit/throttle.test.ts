import test from 'ava';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { Throttle } from '../../src/server/throttle.js';

const MiB = 1024 * 1024;
/** Timers fire late on a loaded machine, never early; this much early is clock rounding. */
const EARLY_MS = 30;

/** True when `promise` settles before the event loop turns (no timer was waited on). */
async function settlesAtOnce(promise: Promise<void>): Promise<boolean> {
  return Promise.race([promise.then(() => true), nextTurn().then(() => false)]);
}

async function takeInChunks(throttle: Throttle, bytes: number, chunk: number): Promise<void> {
  for (let taken = 0; taken < bytes; taken += chunk) await throttle.take(Math.min(chunk, bytes - taken));
}

test('a limit of 0 never makes a transfer wait', async (t) => {
  const throttle = new Throttle(0);
  t.true(await settlesAtOnce(throttle.take(1024 ** 4)));
  t.true(await settlesAtOnce(throttle.take(1024 ** 4)));
});

test('the first second of bytes goes at once; what runs ahead of the limit waits for it', async (t) => {
  const throttle = new Throttle(2 * MiB);
  const started = performance.now();
  t.true(await settlesAtOnce(throttle.take(2 * MiB - 1)), 'a second of bytes needs no wait');
  const more = throttle.take(MiB);
  t.false(await settlesAtOnce(more), 'half a second more must wait');
  await more;
  const waited = performance.now() - started;
  t.true(waited >= 500 - EARLY_MS, `1.5 s of bytes at the limit took ${Math.round(waited)} ms`);
});

test('a steady transfer averages the limit', async (t) => {
  const throttle = new Throttle(MiB);
  const started = performance.now();
  await takeInChunks(throttle, 3 * MiB, 64 * 1024);
  const seconds = (performance.now() - started) / 1000;
  t.log(`3 MiB at 1 MiB/s took ${seconds.toFixed(2)} s`);
  // The first second's worth is free, so 3 MiB needs 2 s; a loaded machine may add to it.
  t.true(seconds >= 2 - EARLY_MS / 1000, `too fast: ${seconds.toFixed(2)} s`);
  t.true(seconds < 8, `far slower than the limit: ${seconds.toFixed(2)} s`);
});

test('an idle connection saves up at most one second of bytes, so its next burst is bounded', async (t) => {
  const throttle = new Throttle(MiB);
  t.true(await settlesAtOnce(throttle.take(MiB)), 'the saved second is spent');
  // Idle time is what the bucket measures: two seconds of it must still save only one.
  await sleep(2_000);
  const started = performance.now();
  await throttle.take(2 * MiB);
  const waited = performance.now() - started;
  t.true(waited >= 1_000 - EARLY_MS, `a burst of 2 s of bytes after idling waited only ${Math.round(waited)} ms`);
});
