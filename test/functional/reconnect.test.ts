import test from 'ava';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../helpers/cli.js';
import { randomFile, sha256File, tempDir } from '../helpers/files.js';
import { startProxy } from '../helpers/proxy.js';
import { startServer } from '../helpers/server.js';

interface Report {
  ok: boolean;
  files: { remote: string; sha256: string; resumedFrom: number }[];
}

test('an upload cut off by the network is retried on a new connection and completes on its own', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  await randomFile(join(local, 'a.bin'), 8 * 1024 * 1024);
  await randomFile(join(local, 'b.bin'), 3 * 1024 * 1024);
  const proxy = await startProxy(t, server.port, { cuts: [2 * 1024 * 1024, 1024 * 1024] });
  const result = await ferry(['upload', join(local, 'a.bin'), join(local, 'b.bin'), '--json'], {
    env: { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` },
  });
  t.is(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as Report;
  t.true(report.ok);
  t.is(proxy.connections(), 3, 'two cuts, two reconnections');
  for (const name of ['a.bin', 'b.bin']) t.is(await sha256File(join(server.filesDir, name)), await sha256File(join(local, name)));
  t.deepEqual(await readdir(join(server.dataDir, 'tmp')), [], 'the cut attempts left no temporary files');
  t.deepEqual(await readdir(join(server.dataDir, 'partial')), [], 'nor partial uploads, once completed');
});

test('a large upload cut off by the network continues from the bytes the server already holds', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  await randomFile(join(local, 'big.bin'), 12 * 1024 * 1024);
  const proxy = await startProxy(t, server.port, { cuts: [5 * 1024 * 1024] });
  const result = await ferry(['upload', join(local, 'big.bin'), '--json'], { env: { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` } });
  t.is(result.code, 0, result.stderr);
  const resumedFrom = (JSON.parse(result.stdout) as Report).files[0]?.resumedFrom ?? 0;
  t.true(resumedFrom > 1024 * 1024 && resumedFrom < 12 * 1024 * 1024, `resumed from ${resumedFrom}: only the rest was sent again`);
  t.is(await sha256File(join(server.filesDir, 'big.bin')), await sha256File(join(local, 'big.bin')));
  t.deepEqual(await readdir(join(server.dataDir, 'partial')), [], 'the partial became the file');
});

test('a download cut off by the network resumes from the bytes already received and ends intact', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  await randomFile(join(server.filesDir, 'big.bin'), 16 * 1024 * 1024);
  const proxy = await startProxy(t, server.port, { cuts: [6 * 1024 * 1024] });
  const result = await ferry(['download', '/big.bin', '-d', local, '--json'], {
    env: { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` },
  });
  t.is(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as Report;
  const resumedFrom = report.files[0]?.resumedFrom ?? 0;
  t.true(resumedFrom > 1024 * 1024, `resumed from ${resumedFrom}`);
  t.true(resumedFrom < 16 * 1024 * 1024);
  t.is(await sha256File(join(local, 'big.bin')), await sha256File(join(server.filesDir, 'big.bin')));
  t.deepEqual(await readdir(local), ['big.bin'], 'no part file is left');
});

test('when every attempt is cut, the CLI gives up with exit code 5 after its retries and keeps the part file', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  await randomFile(join(server.filesDir, 'big.bin'), 4 * 1024 * 1024);
  const proxy = await startProxy(t, server.port, { cuts: [1024 * 1024, 1024 * 1024, 1024 * 1024] });
  const result = await ferry(['--retries', '2', 'download', '/big.bin', '-d', local], {
    env: { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` },
  });
  t.is(result.code, 5, result.stderr);
  t.is(proxy.connections(), 3);
  t.deepEqual(await readdir(local), ['.big.bin.ferry-part'], 'the partial download waits for the next attempt');
});
