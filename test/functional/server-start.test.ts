import test from 'ava';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ferryServer } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

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
