import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SERVER_BIN, ferryServer } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { spawnServer } from '../helpers/server.js';

/** Long enough for a loaded machine to start and give up; a server that keeps running is killed here. */
const GIVE_UP_MS = 30_000;

function serverEnv(dataDir: string, port: number, workers: number): Record<string, string> {
  return {
    FERRY_HOST: '127.0.0.1',
    FERRY_PORT: String(port),
    FERRY_OPS_HOST: '127.0.0.1',
    FERRY_OPS_PORT: '0',
    FERRY_WEB_HOST: '127.0.0.1',
    FERRY_WEB_PORT: '0',
    FERRY_DATA_DIR: dataDir,
    FERRY_WORKERS: String(workers),
    FERRY_MDNS: 'false',
    FERRY_ADMIN_PASSWORD: 'admin-password',
  };
}

for (const workers of [2, 0]) {
  test(`FERRY_WORKERS=${workers}: a port already in use stops the start at once with exit 2 and says so once`, async (t) => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    t.teardown(() => squatter.close());
    const { port } = squatter.address() as AddressInfo;
    const started = performance.now();
    const result = await ferryServer(['start'], { env: serverEnv(await tempDir(t), port, workers), timeoutMs: GIVE_UP_MS });
    t.is(result.code, 2, `exit ${result.code} after ${Math.round(performance.now() - started)} ms; stderr: ${result.stderr}`);
    t.regex(result.stderr, new RegExp(`already uses port ${port}: stop it or set FERRY_PORT`));
    const mentions = result.stdout.split('\n').filter((line) => line.includes('EADDRINUSE'));
    t.true(mentions.length <= 1, `the log gives the reason once, not per worker:\n${mentions.join('\n')}`);
  });
}

for (const workers of [2, 0]) {
  test(`FERRY_WORKERS=${workers}: an ops port already in use stops the start at once with exit 2 and says so, the file service closed`, async (t) => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    t.teardown(() => squatter.close());
    const { port } = squatter.address() as AddressInfo;
    const started = performance.now();
    const env = { ...serverEnv(await tempDir(t), 0, workers), FERRY_OPS_PORT: String(port) };
    // A server that keeps serving is killed at GIVE_UP_MS: its exit code is then null, not 2.
    const result = await ferryServer(['start'], { env, timeoutMs: GIVE_UP_MS });
    t.is(result.code, 2, `exit ${result.code} after ${Math.round(performance.now() - started)} ms; stderr: ${result.stderr}`);
    t.regex(result.stderr, new RegExp(`cannot listen for ops HTTP on 127.0.0.1:${port}: .*EADDRINUSE.*set FERRY_OPS_PORT`));
  });
}

test('a start with FERRY_DRAIN_TIMEOUT_MS, the older name of FERRY_DRAIN_TIMEOUT, logs that it is deprecated and what to set instead', async (t) => {
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  t.teardown(() => squatter.close());
  const { port } = squatter.address() as AddressInfo;
  // The port in use ends the start at once, after the configuration has been read.
  const env = { ...serverEnv(await tempDir(t), port, 0), FERRY_DRAIN_TIMEOUT_MS: '5000' };
  const result = await ferryServer(['start'], { env, timeoutMs: GIVE_UP_MS });
  t.is(result.code, 2, result.stderr);
  const warning = result.stdout.split('\n').find((line) => line.includes('"event":"deprecated-setting"'));
  t.truthy(warning, result.stdout);
  t.regex(warning ?? '', /FERRY_DRAIN_TIMEOUT_MS is deprecated: set FERRY_DRAIN_TIMEOUT=5000ms instead/);
});

test('FERRY_WORKERS=0: SIGHUP neither stops nor drains the one process; it says it is ignored, and SIGTERM still drains', async (t) => {
  const server = await spawnServer(t, { FERRY_DATA_DIR: await tempDir(t), FERRY_ADMIN_PASSWORD: 'admin-password' });
  server.child.kill('SIGHUP');
  await server.waitForLog((line) => line.event === 'reload-skipped');
  const health = await fetch(`http://127.0.0.1:${server.opsPort}/readyz`);
  t.is(health.status, 200);
  t.false(server.logs.some((line) => line.event === 'drain'));
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});

test('FERRY_WORKERS=2: a SIGHUP during start-up (before the workers are forked) does not kill the primary; it starts and drains on SIGTERM', async (t) => {
  const dataDir = await tempDir(t);
  const child = spawn(process.execPath, [SERVER_BIN, 'start'], { env: { ...process.env, ...serverEnv(dataDir, 0, 2) }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const events: string[] = [];
  const seen = (event: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (text) => {
        const line = JSON.parse(text) as { event?: string };
        events.push(line.event ?? '');
        if (line.event === event) resolve();
      });
      void exited.then((how) => reject(new Error(`ferry-server exited (${JSON.stringify(how)}) before "${event}"; events: ${events.join(', ')}`)));
    });
  const ready = seen('workers-ready');
  // Its first line (the admin user made on first start) comes well before the workers are forked.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.kill('SIGHUP');
  await ready;
  t.true(events.includes('reload-skipped') || events.includes('reload'), events.join(', '));
  child.kill('SIGTERM');
  t.deepEqual(await exited, { code: 0, signal: null });
});

test('ferry-server start --help prints the help with the configuration flags and starts nothing', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const result = await ferryServer(['start', '--help'], { env: serverEnv(dataDir, 0, 0), timeoutMs: GIVE_UP_MS });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^Usage: ferry-server start/);
  t.regex(result.stdout, /--port <value> .*FERRY_PORT, default 8080/);
  t.regex(result.stdout, /--workers <value>/);
  t.false(result.stdout.includes('"level"'), 'no log line: nothing started');
  t.false(existsSync(dataDir), 'no data folder was made');
});
