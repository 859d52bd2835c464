import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, ferry } from '../helpers/cli.js';
import { randomFile, sha256File, tempDir } from '../helpers/files.js';
import { ADMIN } from '../helpers/server.js';
import { eventually, freePort } from '../helpers/tools.js';

const run = promisify(execFile);
const PM2 = join(REPO_ROOT, 'node_modules', 'pm2', 'bin', 'pm2');
const PAYLOAD_BYTES = 20 * 1024 * 1024;
const MIN_ROUND_TRIPS = 10;

type Phase = [name: string, run: (pm2: Pm2, logLines: (event: string) => Promise<number>) => Promise<void>];
type Pm2 = (...args: string[]) => Promise<unknown>;

const reload: Phase = ['pm2 reload', async (pm2) => void (await pm2('reload', 'ferry'))];

/**
 * Starts Ferry under pm2 (its own PM2_HOME), loops upload + download of a 20 MiB
 * file with the real CLI and its default retry policy, and runs each phase while
 * a round trip is under way. Returns the round trips attempted and the failures.
 */
async function underLoad(t: ExecutionContext, phases: Phase[], minRoundTrips: number): Promise<{ roundTrips: number; failures: string[]; logLines: (event: string) => Promise<number>; pm2: Pm2 }> {
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
    FERRY_WEB_HOST: '127.0.0.1',
    FERRY_WEB_PORT: '0',
    FERRY_DATA_DIR: dataDir,
    FERRY_WORKERS: '2',
    FERRY_MDNS: 'false',
    FERRY_ADMIN_PASSWORD: ADMIN.password,
    FERRY_DRAIN_TIMEOUT: '10s',
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
  const logLines = async (event: string): Promise<number> => {
    const logs = await readFile(join(pm2Home, 'logs', 'ferry-out.log'), 'utf8').catch(() => '');
    return logs.split('\n').filter((line) => line.includes(`"event":"${event}"`)).length;
  };

  await pm2('start', 'ecosystem.config.js');
  await ready();

  const local = await tempDir(t);
  await randomFile(join(local, 'payload.bin'), PAYLOAD_BYTES);
  const expected = await sha256File(join(local, 'payload.bin'));
  // The client's default retry policy is what is under test: no --retries here.
  const clientEnv = { FERRY_SERVER: `127.0.0.1:${port}`, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password };
  let running = true;
  let roundTrips = 0;
  const failures: string[] = [];
  const roundTripsDone: (() => void)[] = [];
  const afterRoundTrips = (count: number): Promise<void> => {
    const target = roundTrips + count;
    return new Promise((resolve) => {
      const check = (): void => (roundTrips >= target ? resolve() : void roundTripsDone.push(check));
      check();
    });
  };
  const loop = async (): Promise<void> => {
    const back = await tempDir(t);
    for (let round = 0; running || roundTrips < minRoundTrips; round++) {
      const into = join(back, `round-${round}`);
      await mkdir(into);
      const up = await ferry(['upload', join(local, 'payload.bin'), '-d', '/loop'], { env: clientEnv, timeoutMs: 120_000 });
      const down = await ferry(['download', '/loop/payload.bin', '-d', into], { env: clientEnv, timeoutMs: 120_000 });
      const problems = [['upload', up] as const, ['download', down] as const].flatMap(([what, result]) => (result.code === 0 ? [] : [`${what}: exit ${result.code} ${result.stderr}`]));
      if (down.code === 0 && (await sha256File(join(into, 'payload.bin'))) !== expected) problems.push('the file came back different');
      if (problems.length > 0) failures.push(`round trip ${round + 1}: ${problems.join('; ')}`);
      roundTrips++;
      for (const waiter of roundTripsDone.splice(0)) waiter();
    }
  };
  const looping = loop();
  const began = performance.now();
  const seconds = (): string => ((performance.now() - began) / 1000).toFixed(1);
  for (const [name, phase] of phases) {
    await afterRoundTrips(1); // Each change lands while the client is busy.
    const before = roundTrips;
    t.log(`${seconds()} s: ${name} during round trip ${before + 1}`);
    await phase(pm2, logLines);
    await ready();
    t.log(`${seconds()} s: ${name} done, ready again`);
  }
  running = false;
  await looping;
  t.log(`${seconds()} s: ${roundTrips} round trips of ${PAYLOAD_BYTES / 2 ** 20} MiB attempted, ${failures.length} failed`);
  return { roundTrips, failures, logLines, pm2 };
}

test.serial('under pm2, two reloads while a client loops upload and download of 20 MiB fail no round trip', async (t) => {
  const { roundTrips, failures, logLines, pm2 } = await underLoad(t, [reload, reload], MIN_ROUND_TRIPS);
  t.deepEqual(failures, [], 'no round trip failed');
  t.true(roundTrips >= MIN_ROUND_TRIPS, `${roundTrips} round trips attempted`);
  await pm2('stop', 'ferry');
  t.is(await logLines('stopped'), 3, 'each reload and the stop drained and stopped cleanly');
  t.is(await logLines('worker-kill'), 0, 'no worker outlived its drain');
});

test.serial('under pm2, a SIGHUP (rolling restart) and a stop followed by a start while a client loops fail no round trip', async (t) => {
  const sighup: Phase = [
    'pm2 sendSignal SIGHUP',
    async (pm2, logLines) => {
      const before = await logLines('reloaded');
      await pm2('sendSignal', 'SIGHUP', 'ferry');
      await eventually(async () => ((await logLines('reloaded')) > before ? true : undefined), 60_000);
    },
  ];
  const stopStart: Phase = [
    'pm2 stop, then pm2 start',
    async (pm2) => {
      await pm2('stop', 'ferry');
      await pm2('start', 'ferry');
    },
  ];
  const { roundTrips, failures, logLines } = await underLoad(t, [sighup, stopStart], 4);
  t.deepEqual(failures, [], 'no round trip failed');
  t.true(roundTrips >= 4, `${roundTrips} round trips attempted`);
  t.is(await logLines('worker-kill'), 0, 'no worker outlived its drain');
});
