import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FerryClient } from '../../src/client/client.js';
import { FerryError } from '../../src/protocol/errors.js';
import { ferry } from '../helpers/cli.js';
import { sha256, sha256File, tempDir } from '../helpers/files.js';
import { scrape, sumSamples } from '../helpers/metrics.js';
import { ADMIN, spawnServer } from '../helpers/server.js';
import { eventually, withTools } from '../helpers/tools.js';

async function clusterOf(t: Parameters<typeof tempDir>[0], workers: number) {
  const dataDir = await tempDir(t);
  const server = await spawnServer(t, { FERRY_DATA_DIR: dataDir, FERRY_WORKERS: String(workers), FERRY_ADMIN_PASSWORD: ADMIN.password });
  await server.waitForLog((line) => line.event === 'workers-ready');
  const env = { ...server.env, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password };
  return { server, dataDir, env };
}

test.serial('a cluster of 2 workers spreads transfers over both and one scrape counts all of them', async (t) => {
  const { server, env } = await clusterOf(t, 2);
  const local = await tempDir(t);
  const files = Array.from({ length: 8 }, (_, n) => join(local, `f${n}.bin`));
  await Promise.all(files.map((file) => writeFile(file, randomBytes(64 * 1024))));
  const results = await Promise.all(files.map((file) => ferry(['upload', file, '-d', '/spread'], { env })));
  t.deepEqual(results.map((r) => r.code), files.map(() => 0));
  const download = await ferry(['download', '/spread', '-d', local], { env });
  t.is(download.code, 0, download.stderr);

  const servedBy = new Set(server.logs.filter((line) => line.event === 'transfer').map((line) => line.worker));
  t.deepEqual([...servedBy].sort(), ['0', '1'], 'both workers served transfers');
  const text = await scrape(server.opsPort);
  t.is(sumSamples(text, 'ferry_transfers_total', { direction: 'upload', result: 'ok' }), 8);
  t.is(sumSamples(text, 'ferry_transfers_total', { direction: 'download', result: 'ok' }), 8);
  t.is(sumSamples(text, 'ferry_transfer_bytes_total', { direction: 'upload' }), 8 * 64 * 1024);
  t.is(sumSamples(text, 'ferry_transfer_duration_seconds_count', { direction: 'upload' }), 8);
  t.is(sumSamples(text, 'ferry_auth_attempts_total', { result: 'success' }), 9);
  t.is(sumSamples(text, 'ferry_workers'), 2);
  t.true(sumSamples(text, 'ferry_storage_free_bytes') > 0);
  t.true(sumSamples(text, 'process_resident_memory_bytes') > 0, 'default process metrics are there too');
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});

test.serial('a worker killed with kill -9 is replaced and connections on the other worker are unaffected', async (t) => {
  const { server } = await clusterOf(t, 2);
  const clients = await Promise.all(
    Array.from({ length: 6 }, async () => {
      const client = await FerryClient.connect(server.address);
      t.teardown(() => client.close());
      await client.login(ADMIN.user, ADMIN.password);
      return client;
    }),
  );
  const victim = server.logs.find((line) => line.event === 'worker-start' && line.worker === 0)?.pid as number;
  process.kill(victim, 'SIGKILL');
  await server.waitForLog((line) => line.event === 'worker-exit' && line.pid === victim);
  const outcomes = await Promise.all(
    clients.map((client, n) =>
      client.upload(`/after-kill-${n}.txt`, { size: 5, open: () => Readable.from([Buffer.from('alive')]) }).then(
        () => 'ok',
        (error: unknown) => (error instanceof FerryError ? error.code : 'other'),
      ),
    ),
  );
  t.true(outcomes.filter((o) => o === 'ok').length >= 1, `some connections live on: ${outcomes.join(',')}`);
  t.true(outcomes.every((o) => o === 'ok' || o === 'CONNECTION_LOST'), outcomes.join(','));
  await server.waitForLog((line) => line.event === 'worker-start' && line.worker === 0 && line.pid !== victim);
  const text = await eventually(async () => {
    const scraped = await scrape(server.opsPort);
    return sumSamples(scraped, 'ferry_workers') === 2 ? scraped : undefined;
  }, 10_000);
  t.is(sumSamples(text, 'ferry_workers'), 2, 'the slot is filled again');
  const result = await ferry(['ls', '/'], { env: { ...server.env, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password } });
  t.is(result.code, 0, result.stderr);
});

test.serial('SIGTERM drains: an upload of hundreds of MB in flight completes intact, /readyz turns 503 at once, the exit code is 0', async (t) => {
  const { server, dataDir } = await clusterOf(t, 2);
  const ready = await fetch(`http://127.0.0.1:${server.opsPort}/readyz`);
  t.is(ready.status, 200);
  const client = await FerryClient.connect(server.address);
  t.teardown(() => client.close());
  await client.login(ADMIN.user, ADMIN.password);

  const block = randomBytes(1024 * 1024);
  const blocks = 400;
  const expected = sha256(Buffer.concat(Array.from({ length: blocks }, () => block)));
  let signalled: Promise<number> | undefined;
  const upload = client.upload(
    '/draining.bin',
    { size: blocks * block.length, open: () => Readable.from(Array.from({ length: blocks }, () => block)) },
    {
      onProgress: (done) => {
        if (signalled || done < 64 * 1024 * 1024) return;
        server.child.kill('SIGTERM');
        const sent = performance.now();
        signalled = server.waitForLog((line) => line.event === 'drain').then(() => performance.now() - sent);
      },
    },
  );
  const status = await eventually(async () => {
    const response = await fetch(`http://127.0.0.1:${server.opsPort}/readyz`);
    return response.status === 503 ? response.status : undefined;
  }, 5_000, 20);
  t.is(status, 503, '/readyz says not ready while draining');
  const result = await upload;
  t.is(result.sha256, expected);
  t.is(await server.exited, 0);
  t.truthy(signalled);
  t.is(await sha256File(join(dataDir, 'files', 'draining.bin')), expected, 'the file on disk is whole');
  const stopped = server.logs.find((line) => line.event === 'stopped');
  t.log(`drain took ${String(stopped?.drainMs)} ms`);
});

withTools('promtool').serial('promtool accepts a live scrape of the cluster', async (t) => {
  const { server, env } = await clusterOf(t, 2);
  const local = await tempDir(t);
  await mkdir(join(local, 'one'));
  await writeFile(join(local, 'one', 'x.txt'), 'x');
  t.is((await ferry(['upload', join(local, 'one')], { env })).code, 0);
  const text = await scrape(server.opsPort);
  const checked = (() => {
    try {
      return { code: 0, output: execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' }) };
    } catch (error) {
      const failure = error as { status: number; stdout: string; stderr: string };
      return { code: failure.status, output: `${failure.stdout}${failure.stderr}` };
    }
  })();
  t.is(checked.code, 0, checked.output);
});
