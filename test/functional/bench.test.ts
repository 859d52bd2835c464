import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../helpers/cli.js';

const run = promisify(execFile);

test.serial('the benchmark runs every workload in quick mode, against its baselines, and every transfer lands intact', async (t) => {
  const bench = join(REPO_ROOT, 'dist', 'bench', 'run.js');
  const { stdout } = await run(process.execPath, [bench, '--quick', '--no-install'], { cwd: REPO_ROOT, timeout: 600_000, maxBuffer: 16 * 1024 * 1024 });
  for (const workload of ['W1', 'W2', 'W3', 'W4', 'W5', 'W6', 'W7', 'W7v']) t.regex(stdout, new RegExp(`^## ${workload}:`, 'm'), `${workload} has a table`);
  t.regex(stdout, /\| \*\*Ferry\*\* \|/);
  t.regex(stdout, /Correctness: every transfer landed intact/);
});
