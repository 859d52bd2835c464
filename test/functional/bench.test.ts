import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { settledTreeCpu, treeCpu } from '../../bench/lib/proc.js';
import { run, start } from '../../bench/lib/processes.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { eventually, withTools } from '../helpers/tools.js';

const execute = promisify(execFile);

/** A node command that burns `ms` of CPU (by its own clock, so a loaded machine only makes it slower). */
function burn(ms: number): string {
  return `${JSON.stringify(process.execPath)} -e "const s = process.cpuUsage(); while (process.cpuUsage(s).user < ${ms * 1000});"`;
}

withTools('time')('a process started with cpu reports the user + system time of its whole run, the children it reaped included', async (t) => {
  const result = await run('bash', ['-c', burn(300)], { cpu: true, timeoutMs: 60_000 });
  t.true(result.cpuSeconds !== undefined && result.cpuSeconds >= 0.28, `cpuSeconds ${result.cpuSeconds}`);
});

test("a daemon's CPU counts the per-connection child it forked, which exited and was reaped before the reading", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-tree-'));
  const [go, done] = [join(dir, 'go'), join(dir, 'done')];
  // Like a daemon: waits for a "connection", forks a child that works and exits, reaps it, stays up.
  const daemon = start('bash', ['-c', `while [ ! -e ${go} ]; do sleep 0.02; done; ${burn(300)}; touch ${done}; exec sleep 60`]);
  try {
    const before = treeCpu(daemon.pid);
    await writeFile(go, '');
    await eventually(() => stat(done).then(() => true, () => undefined), 60_000, 20);
    const after = await settledTreeCpu(daemon.pid, before);
    t.true(after.seconds - before.seconds >= 0.28, `tree CPU grew by ${after.seconds - before.seconds} s`);
  } finally {
    await daemon.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test.serial('the benchmark runs every workload in quick mode, against its baselines, and every transfer lands intact', async (t) => {
  const bench = join(REPO_ROOT, 'dist', 'bench', 'run.js');
  const { stdout } = await execute(process.execPath, [bench, '--quick', '--no-install'], { cwd: REPO_ROOT, timeout: 600_000, maxBuffer: 16 * 1024 * 1024 });
  for (const workload of ['W1', 'W2', 'W3', 'W4', 'W5', 'W6', 'W7', 'W7v']) t.regex(stdout, new RegExp(`^## ${workload}:`, 'm'), `${workload} has a table`);
  t.regex(stdout, /\| \*\*Ferry\*\* \|/);
  t.regex(stdout, /SHA-256 \(node:crypto, one core, this run\): \d+\.\d+ GiB\/s/);
  t.regex(stdout, /\| client CPU s\/GiB \| server CPU s\/GiB \|/);
  t.regex(stdout, /\| client CPU ms\/file \| server CPU ms\/file \|/);
  // Ferry's server CPU comes from /proc, always there: a figure, not a dash.
  t.regex(stdout, /^\| \*\*Ferry\*\* \|(?: [^|]* \|){6} [^|]* \| \d[\d.,]*(?: \[[^\]]*\])? \|/m);
  t.regex(stdout, /^CPU bar: Ferry client\+server .* rsync .*SHA-256/m);
  t.regex(stdout, /^CPU bar: Ferry client\+server .* 2 x rsync/m);
  t.regex(stdout, /\| W1 \| Ferry >= 1x rsync[^|]*--fsync \|/);
  t.regex(stdout, /\| W1 \| moonshot: Ferry >= 1x rsync/);
  // W7's bar is the installed client package's `ls`; the clone's unbundled build is reported beside it.
  t.regex(stdout, /^\| `ferry ls` \(\d+ entries\), installed client package \| \d/m);
  t.regex(stdout, /^\| `ferry ls`, this clone's unbundled build [^|]*\| \d/m);
  t.regex(stdout, /^Ratio ferry ls \(installed\) \/ node -e 0 over paired runs: \d/m);
  t.regex(stdout, /\| W7 \| installed `ferry ls` <= 3x `node -e 0` \| \d/);
  t.regex(stdout, /Correctness: every transfer landed intact/);
});
