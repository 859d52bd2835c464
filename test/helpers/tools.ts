/**
 * System tools some tests need (promtool, prometheus, ...). Under CI=true a
 * missing tool is a failure; elsewhere the test says what is missing and passes.
 */

import type { ExecutionContext } from 'ava';
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

/** True when the tools are present; otherwise fails (CI) or logs why and passes. */
export function requireTools(t: ExecutionContext, ...names: string[]): boolean {
  const missing = names.filter((name) => !hasTool(name));
  if (missing.length === 0) return true;
  const why = `needs ${missing.join(', ')} (installed by .ci/run)`;
  if (process.env.CI) t.fail(why);
  else {
    t.log(`not run here: ${why}`);
    t.pass();
  }
  return false;
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
