import test from 'ava';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, ferry } from '../helpers/cli.js';
import { randomFile, sha256File, tempDir } from '../helpers/files.js';
import { ADMIN } from '../helpers/server.js';
import { eventually, freePort } from '../helpers/tools.js';

const run = promisify(execFile);
const PM2 = join(REPO_ROOT, 'node_modules', 'pm2', 'bin', 'pm2');

test.serial('under pm2, two reloads while clients upload and download fail no transfer, and pm2 stop drains', async (t) => {
  const pm2Home = await tempDir(t, 'ferry-pm2-');
  const dataDir = await tempDir(t);
  const [port, opsPort] = [await freePort(), await freePort()];
  const env = {
    ...process.env,
    PM2_HOME: pm2Home,
    FERRY_HOST: '127.0.0.1',
    FERRY_PORT: String(port),
    FERRY_OPS_HOST: '127.0.0.1',
    FERRY_OPS_PORT: String(opsPort),
    FERRY_DATA_DIR: dataDir,
    FERRY_WORKERS: '2',
    FERRY_MDNS: 'false',
    FERRY_ADMIN_PASSWORD: ADMIN.password,
    FERRY_DRAIN_TIMEOUT_MS: '10000',
  };
  const pm2 = (...args: string[]) => run(process.execPath, [PM2, ...args], { env, cwd: REPO_ROOT, timeout: 90_000 });
  t.teardown(async () => {
    await pm2('kill').catch(() => undefined);
  });
  const ready = () =>
    eventually(async () => {
      const response = await fetch(`http://127.0.0.1:${opsPort}/readyz`);
      return response.status === 200 ? true : undefined;
    }, 30_000);

  await pm2('start', 'ecosystem.config.js');
  await ready();

  const local = await tempDir(t);
  await randomFile(join(local, 'payload.bin'), 2 * 1024 * 1024);
  const expected = await sha256File(join(local, 'payload.bin'));
  const clientEnv = { FERRY_SERVER: `127.0.0.1:${port}`, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password };
  let running = true;
  const failures: string[] = [];
  let transfers = 0;
  const loop = async (lane: number): Promise<void> => {
    const back = await tempDir(t);
    for (let round = 0; running || round < 3; round++) {
      const name = `/lane-${lane}/round-${round}.bin`;
      const up = await ferry(['--retries', '12', 'upload', join(local, 'payload.bin'), '-d', `/lane-${lane}`], { env: clientEnv });
      const renamed = await ferry(['--retries', '12', 'mv', `/lane-${lane}/payload.bin`, name], { env: clientEnv });
      const down = await ferry(['--retries', '12', 'download', name, '-d', back], { env: clientEnv });
      transfers += 2;
      for (const [what, result] of [['upload', up], ['mv', renamed], ['download', down]] as const) {
        if (result.code !== 0) failures.push(`${what} ${name}: exit ${result.code} ${result.stderr}`);
      }
      if (down.code === 0 && (await sha256File(join(back, `round-${round}.bin`))) !== expected) failures.push(`${name} came back different`);
    }
  };
  const lanes = [loop(0), loop(1)];
  for (const reload of [1, 2]) {
    await pm2('reload', 'ferry');
    await ready();
    t.log(`reload ${reload} done`);
  }
  running = false;
  await Promise.all(lanes);
  t.deepEqual(failures, [], 'no transfer failed across the reloads');
  t.true(transfers >= 12, `${transfers} transfers attempted`);
  t.log(`reload under load: ${transfers} transfers attempted, ${failures.length} failed`);

  await pm2('stop', 'ferry');
  const logs = await readFile(join(pm2Home, 'logs', 'ferry-out.log'), 'utf8');
  const stops = logs.split('\n').filter((line) => line.includes('"event":"stopped"'));
  t.is(stops.length, 3, 'each reload and the stop drained and stopped cleanly');
});
