import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FerryClient } from '../../src/client/client.js';
import { SERVER_BIN, ferry, jsonData, startFerry } from '../helpers/cli.js';
import { bufferSource } from '../helpers/buffers.js';
import { randomFile, sha256File, tempDir } from '../helpers/files.js';
import { startProxy } from '../helpers/proxy.js';
import { ADMIN, spawnServer, type SpawnedServer } from '../helpers/server.js';
import { partialBytes } from '../helpers/stored.js';
import { loopbackAddress } from '../helpers/tls.js';
import { eventually, withTools } from '../helpers/tools.js';

const FILE_BYTES = 12 * 1024 * 1024;

interface Report {
  files: { remote: string; sha256: string; resumedFrom: number }[];
}

/** The server as PID 1 of a PID namespace of its own, as in every start of a container (it dies with the unshare process, killed at teardown). */
function startAsPid1(t: ExecutionContext, env: Record<string, string>): Promise<SpawnedServer> {
  return spawnServer(t, env, [], undefined, ['unshare', '--pid', '--fork', '--kill-child', '--mount-proc']);
}

function clientEnv(port: number): Record<string, string> {
  return { FERRY_SERVER: `127.0.0.1:${port}`, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password };
}

/** Uploads `file` until the server has written part of it to disk, then kills the server with SIGKILL (and the client). */
async function killMidUpload(t: ExecutionContext, server: SpawnedServer, dataDir: string, file: string): Promise<number> {
  const proxy = await startProxy(t, server.port, { pauseUpstreamAfter: FILE_BYTES / 2 });
  const upload = startFerry(['--retries', '0', 'upload', file], { env: clientEnv(proxy.port) });
  await proxy.paused;
  await eventually(async () => ((await partialBytes(dataDir)) >= 1024 * 1024 ? true : undefined), 30_000, 20);
  server.child.kill('SIGKILL');
  await server.exited;
  upload.child.kill('SIGKILL');
  await upload.result;
  return partialBytes(dataDir);
}

withTools('unshare').serial('a server killed while writing a partial, restarted as the same PID (PID 1, as in a container): the upload resumes from the bytes held, and a stale partial is swept', async (t) => {
  const dataDir = await tempDir(t);
  const local = await tempDir(t);
  await randomFile(join(local, 'first.bin'), FILE_BYTES);
  await randomFile(join(local, 'second.bin'), FILE_BYTES);
  const env = { FERRY_DATA_DIR: dataDir, FERRY_ADMIN_PASSWORD: ADMIN.password, FERRY_WORKERS: '0' };

  const killed = await startAsPid1(t, env);
  t.is((await killed.waitForLog((line) => line.event === 'listening')).pid, 1, 'the server runs as PID 1');
  const held = await killMidUpload(t, killed, dataDir, join(local, 'first.bin'));
  t.true(held > 0);

  const restarted = await startAsPid1(t, env);
  t.is((await restarted.waitForLog((line) => line.event === 'listening')).pid, 1, 'the new server has the PID of the killed one');
  const again = await ferry(['upload', join(local, 'first.bin'), '--json'], { env: clientEnv(restarted.port) });
  t.is(again.code, 0, again.stderr);
  t.is((jsonData(again.stdout) as Report).files[0]?.resumedFrom, held, 'the upload continued from the bytes the killed server held');
  t.is(await sha256File(join(dataDir, 'files', 'first.bin')), await sha256File(join(local, 'first.bin')));

  t.true((await killMidUpload(t, restarted, dataDir, join(local, 'second.bin'))) > 0);
  const sweeping = await startAsPid1(t, { ...env, FERRY_PARTIAL_MAX_AGE: '1000' });
  t.is((await sweeping.waitForLog((line) => line.event === 'listening')).pid, 1);
  await eventually(async () => ((await readdir(join(dataDir, 'partial'))).length === 0 ? true : undefined), 30_000);
  t.deepEqual(await readdir(join(dataDir, 'partial')), [], 'the partial left by the killed server was swept');
});

for (const workers of ['0', '2']) {
  test(`FERRY_WORKERS=${workers}: temp files of uploads cut short by a kill -9 are removed when the server starts again; resumable partials stay`, async (t) => {
    const dataDir = await tempDir(t);
    const local = await tempDir(t);
    await randomFile(join(local, 'resumable.bin'), FILE_BYTES);
    const env = { FERRY_DATA_DIR: dataDir, FERRY_ADMIN_PASSWORD: ADMIN.password, FERRY_WORKERS: workers };
    const server = await spawnServer(t, env);

    // An upload that cannot be resumed writes to a temp file.
    const proxy = await startProxy(t, server.port, { pauseUpstreamAfter: FILE_BYTES / 2 });
    const client = await FerryClient.connect(loopbackAddress(proxy.port, server.fingerprint));
    t.teardown(() => client.close());
    await client.login(ADMIN.user, ADMIN.password);
    const cut = client.upload('/temp.bin', bufferSource(Buffer.alloc(FILE_BYTES, 7)), { resumable: false }).catch(() => undefined);
    await proxy.paused;
    await eventually(async () => ((await readdir(join(dataDir, 'tmp'))).length > 0 ? true : undefined), 30_000, 20);
    const held = await killMidUpload(t, server, dataDir, join(local, 'resumable.bin'));
    client.close();
    await cut;
    t.true((await readdir(join(dataDir, 'tmp'))).length > 0, 'the killed server left a temp file');

    const restarted = await spawnServer(t, env);
    t.deepEqual(await readdir(join(dataDir, 'tmp')), [], 'the temp file was removed before the server listened');
    t.is(await partialBytes(dataDir), held, 'the resumable partial was kept');
    t.truthy(restarted.logs.find((line) => line.event === 'recovered'));
    restarted.child.kill('SIGTERM');
    await restarted.exited;
  });
}

/** A cluster primary that is not Ferry's (as pm2 in cluster mode): forks one `ferry-server start` worker, prints READY once it listens. */
const FOREIGN_PRIMARY = `
import cluster from 'node:cluster';
cluster.setupPrimary({ exec: process.argv[1], args: ['start'], execArgv: [] });
const worker = cluster.fork();
worker.on('message', (message) => {
  if (message && message.type === 'ferry:listening') console.log('READY');
});
process.on('SIGTERM', () => worker.kill('SIGTERM'));
`;

test('a worker started by a foreign cluster primary (pm2 in cluster mode) leaves the temp files of its siblings in the data folder alone', async (t) => {
  const dataDir = await tempDir(t);
  await mkdir(join(dataDir, 'tmp'), { recursive: true });
  // What a sibling worker is writing: an upload's temp file and a streamed upload's spool.
  const siblings = ['0b9f2c1e-sibling.part', 'spool-sibling'];
  for (const name of siblings) await writeFile(join(dataDir, 'tmp', name), 'in use by another worker');
  const primary = spawn(process.execPath, ['--input-type=module', '-e', FOREIGN_PRIMARY, SERVER_BIN], {
    env: {
      ...process.env,
      FERRY_HOST: '127.0.0.1',
      FERRY_PORT: '0',
      FERRY_OPS_HOST: '127.0.0.1',
      FERRY_OPS_PORT: '0',
      FERRY_WEB_HOST: '127.0.0.1',
      FERRY_WEB_PORT: '0',
      FERRY_WORKERS: '1',
      FERRY_MDNS: 'false',
      FERRY_DATA_DIR: dataDir,
      FERRY_ADMIN_PASSWORD: ADMIN.password,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (primary.exitCode === null && primary.signalCode === null) primary.kill('SIGKILL');
  });
  let output = '';
  primary.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: primary.stdout }).on('line', (line) => {
      output += `${line}\n`;
      if (line === 'READY') resolve();
    });
    primary.once('exit', (code) => reject(new Error(`the foreign primary exited with ${code} before its worker listened:\n${output}`)));
  });
  t.deepEqual((await readdir(join(dataDir, 'tmp'))).filter((name) => siblings.includes(name)).sort(), [...siblings].sort());
  primary.kill('SIGTERM');
  await once(primary, 'exit');
});
