/**
 * Small tmpfs volumes, so a test meets the real ENOSPC of a real file system.
 * Mounting needs root (CI runs as root); whether this machine can is decided once,
 * when tests are registered (see runnableIf in tools.ts).
 */

import type { ExecutionContext } from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Why no tmpfs can be mounted here, or undefined when one can: found by mounting a tiny one. */
export function cannotMountTmpfs(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  const dir = mkdtempSync(join(tmpdir(), 'ferry-tmpfs-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return undefined;
  } catch (error) {
    return `cannot mount a tmpfs: ${(error as Error).message.trim()}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Mounts a tmpfs of `bytes` for this test; it is unmounted when the test ends. */
export async function mountTmpfs(t: ExecutionContext, bytes: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-tmpfs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  t.teardown(async () => {
    await run('umount', [dir]).catch(() => run('umount', ['-l', dir]));
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  });
  return dir;
}
