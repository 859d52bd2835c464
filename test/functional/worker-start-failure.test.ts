import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/files.js';
import { scrape, sumSamples } from '../helpers/metrics.js';
import { ADMIN, spawnServer } from '../helpers/server.js';
import { eventually } from '../helpers/tools.js';

async function readyz(opsPort: number): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${opsPort}/readyz`);
  return { status: response.status, body: await response.text() };
}

async function workersGauge(opsPort: number): Promise<number> {
  return sumSamples(await scrape(opsPort), 'ferry_workers');
}

test.serial('a worker that cannot start exits 1 and says why once, the primary backs off and reports degraded, and SIGHUP after the fix restores the count', async (t) => {
  const dataDir = await tempDir(t);
  const usersFile = join(dataDir, 'users.json');
  // Debug shows each retry's exit; the reason itself is an error line.
  const server = await spawnServer(t, { FERRY_DATA_DIR: dataDir, FERRY_WORKERS: '2', FERRY_ADMIN_PASSWORD: ADMIN.password, FERRY_LOG_LEVEL: 'debug' });
  await server.waitForLog((line) => line.event === 'workers-ready');
  t.is(await workersGauge(server.opsPort), 2);

  const goodUsers = await readFile(usersFile, 'utf8');
  await writeFile(usersFile, '{ "users": { broken');
  const victim = server.logs.find((line) => line.event === 'worker-start' && line.worker === 0)?.pid as number;
  process.kill(victim, 'SIGKILL');

  // Three failed starts in a row: each exits 1, the waits between them double.
  const failedExits = await eventually(async () => {
    const exits = server.logs.filter((line) => line.event === 'worker-exit' && line.worker === 0 && line.code === 1);
    return exits.length >= 3 ? exits : undefined;
  }, 30_000);
  t.true(failedExits.every((line) => line.code === 1 && line.signal === null), 'a worker that cannot start exits by itself with code 1');
  const delays = server.logs.filter((line) => line.event === 'worker-restart' && line.worker === 0).map((line) => line.delayMs as number);
  t.true(delays.length >= 3, `restarts: ${delays.join(', ')}`);
  for (let n = 1; n < delays.length; n++) t.true((delays[n] as number) > (delays[n - 1] as number), `the primary backs off: ${delays.join(', ')} ms`);
  const reasons = server.logs.filter((line) => line.event === 'worker-start-failed');
  t.is(reasons.length, 1, 'the reason is logged once, however often the slot is retried');
  t.regex(String(reasons[0]?.reason), /users file .* is invalid/);

  const degraded = await readyz(server.opsPort);
  t.is(degraded.status, 200, 'one worker still serves');
  t.regex(degraded.body, /^degraded: 1 of 2 workers listening; worker 0 cannot start: .*users file/);
  t.is(await workersGauge(server.opsPort), 1, 'ferry_workers counts the workers that listen');

  // A SIGHUP while the cause is still there must not wedge: the serving worker stays.
  process.kill(server.child.pid as number, 'SIGHUP');
  await server.waitForLog((line) => line.event === 'reload-failed');
  t.is(await workersGauge(server.opsPort), 1);
  t.regex((await readyz(server.opsPort)).body, /^degraded: 1 of 2/);

  await writeFile(usersFile, goodUsers);
  const reloadsBefore = server.logs.filter((line) => line.event === 'reloaded').length;
  process.kill(server.child.pid as number, 'SIGHUP');
  await eventually(async () => (server.logs.filter((line) => line.event === 'reloaded').length > reloadsBefore ? true : undefined), 60_000);
  t.is(await workersGauge(server.opsPort), 2, 'the full count is back');
  const ready = await readyz(server.opsPort);
  t.is(ready.status, 200);
  t.regex(ready.body, /^ready: 2 workers listening/);
  const live = server.logs.filter((line) => line.event === 'worker-start').length - server.logs.filter((line) => line.event === 'worker-exit').length;
  t.is(live, 2, 'no worker was left behind by the reloads');

  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});
