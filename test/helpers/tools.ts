/**
 * System tools and capabilities some tests need (promtool, prometheus, root, ...).
 * A test that cannot run never reports a pass: whether it can is decided when it
 * is registered, because ava has no skip at run time. Under CI=true a missing tool
 * is a failing test; elsewhere the test is registered skipped, so ava counts it
 * and lists it (with what is missing in its title).
 */

import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { delimiter, sep } from 'node:path';

/**
 * npm puts node_modules/.bin first on PATH, and there `nft` is @vercel/nft, a
 * file tracer that ava uses, not nftables: a test that means the system's tools
 * calls this first.
 */
export function preferSystemTools(): void {
  process.env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => !dir.endsWith(`${sep}node_modules${sep}.bin`))
    .join(delimiter);
}

export function hasTool(name: string): boolean {
  try {
    execFileSync('which', [name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** What keeps `names` from running here, or undefined when all are installed. */
export function missingTools(...names: string[]): string | undefined {
  const missing = names.filter((name) => !hasTool(name));
  return missing.length === 0 ? undefined : `needs ${missing.join(', ')} (installed by .ci/run)`;
}

type Body = (t: ExecutionContext) => Promise<void> | void;

/** Registers tests the way ava's `test` and `test.serial` do, for tests with a precondition. */
interface Register {
  (title: string, body: Body): void;
  serial(title: string, body: Body): void;
}

/**
 * Registers tests that can run only when `unmet` is undefined. Otherwise, under
 * CI=true, each registers as a test that fails saying what is missing; elsewhere
 * it registers skipped, with the reason in its title.
 */
export function runnableIf(unmet: string | undefined): Register {
  const register = (serial: boolean) => (title: string, body: Body) => {
    const ordinary = serial ? test.serial : test;
    if (unmet === undefined) ordinary(title, body);
    else if (process.env.CI) ordinary(title, (t) => t.fail(`not run: ${unmet}`));
    else (serial ? test.serial.skip : test.skip)(`${title} (skipped here: ${unmet})`, body);
  };
  return Object.assign(register(false), { serial: register(true) });
}

/** Registers tests that need the system tools `names`; see runnableIf. */
export function withTools(...names: string[]): Register {
  return runnableIf(missingTools(...names));
}

/** A port that was free a moment ago on 127.0.0.1, for programs that cannot take port 0. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `check` until it returns a value, at most `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms${lastError ? `: ${String(lastError)}` : ''}`);
}
