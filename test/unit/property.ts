/**
 * Running fast-check properties inside ava tests. Runs are seeded, so a failure
 * reproduces on every machine, and bounded, so each file stays fast. Properties
 * check with node:assert, so fast-check sees each failure, shrinks it, and its
 * report (seed, path, smallest counterexample) becomes the test's failure message.
 */

import type { ExecutionContext } from 'ava';
import fc, { type IAsyncProperty, type IProperty, type Parameters } from 'fast-check';
import { AssertionError } from 'node:assert';
import { FerryError } from '../../src/protocol/errors.js';

/** Set FERRY_PROPERTY_SEED to explore beyond the fixed seed the suite runs with. */
const SEED = Number(process.env.FERRY_PROPERTY_SEED ?? 0x5e_ed_f3);

export function holds<Ts>(t: ExecutionContext, property: IProperty<Ts>, params: Parameters<Ts> = {}): void {
  const details = fc.check(property, { seed: SEED, numRuns: 300, ...params });
  t.false(details.failed, fc.defaultReportMessage(details));
}

export async function holdsAsync<Ts>(t: ExecutionContext, property: IAsyncProperty<Ts>, params: Parameters<Ts> = {}): Promise<void> {
  const details = await fc.check(property, { seed: SEED, numRuns: 200, ...params });
  t.false(details.failed, fc.defaultReportMessage(details));
}

/** The code of the FerryError that `run` throws; any other outcome is an assertion failure. */
export function ferryCodeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof FerryError) return error.code;
    throw error;
  }
  throw new AssertionError({ message: 'expected a FerryError, but nothing was thrown' });
}
