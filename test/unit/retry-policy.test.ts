import test from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { DEFAULT_RETRIES, retryBudgetMs, retryDelayMs } from '../../src/client/retry-policy.js';
import { holds } from './property.js';

/** A server's default drain (FERRY_DRAIN_TIMEOUT) plus a generous start on a loaded host. */
const DRAIN_AND_START_MS = 30_000 + 10_000;

const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

test('each retry waits about twice as long as the one before, within a quarter either way, up to 10 s', (t) => {
  holds(
    t,
    fc.property(fc.integer({ min: 0, max: 40 }), unit, (retry, random) => {
      const base = Math.min(250 * 2 ** retry, 10_000);
      const delay = retryDelayMs(retry, () => random);
      assert.ok(delay >= Math.floor(base * 0.75) && delay <= Math.ceil(base * 1.25), `retry ${retry}: ${delay} ms`);
    }),
  );
});

test('the jitter spreads clients cut off by one restart over the window rather than one instant', (t) => {
  const delays = new Set(Array.from({ length: 50 }, () => retryDelayMs(3)));
  t.true(delays.size > 10, `${delays.size} distinct waits of 50`);
});

test('the default retries wait longer in all than a drain and a start, and not without end', (t) => {
  const { min, max } = retryBudgetMs(DEFAULT_RETRIES);
  t.true(min > DRAIN_AND_START_MS, `${min} ms at least`);
  t.true(max < 120_000, `${max} ms at most`);
  t.deepEqual(retryBudgetMs(0), { min: 0, max: 0 });
});
