import test from 'ava';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry, jsonData } from '../helpers/cli.js';
import { randomFile, sha256File, tempDir } from '../helpers/files.js';
import { startProxy } from '../helpers/proxy.js';
import { startServer } from '../helpers/server.js';
import { BACKENDS } from '../helpers/stored.js';

interface Report {
  ok: boolean;
  files: { remote: string; sha256: string; resumedFrom: number }[];
}

// Every storage backend keeps what a cut connection delivered.
for (const backend of BACKENDS) {
  test(`${backend}: an upload cut off by the network is retried on a new connection and completes on its own`, async (t) => {
    const server = await startServer(t, { backend });
    const local = await tempDir(t);
    await randomFile(join(local, 'a.bin'), 8 * 1024 * 1024);
    await randomFile(join(local, 'b.bin'), 3 * 1024 * 1024);
    const proxy = await startProxy(t, server.port, { cuts: [2 * 1024 * 1024, 1024 * 1024] });
    const result = await ferry(['upload', join(local, 'a.bin'), join(local, 'b.bin'), '--json'], {
      env: { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` },
    });
    t.is(result.code, 0, result.stderr);
    const report = jsonData(result.stdout) as Report;
    t.true(report.ok);
    t.is(proxy.connections(), 3, 'two cuts, two reconnections');
    for (const name of ['a.bin', 'b.bin']) t.is(await server.stored.sha256(name), await sha256File(join(local, name)));
    t.deepEqual(await server.stored.leftovers(), [], 'the cut attempts left no temporary files nor partial uploads, once completed');
  });

  test(`${backend}: a large upload cut off by the network continues from the bytes the server already holds`, async (t) => {
    const server = await startServer(t, { backend });
    const local = await tempDir(t);
    // Past two parts of the S3 backend (5 MiB in tests), which keeps whole parts only.
    await randomFile(join(local, 'big.bin'), 24 * 1024 * 1024);
    const proxy = await startProxy(t, server.port, { cuts: [12 * 1024 * 1024] });
    const result = await ferry(['upload', join(local, 'big.bin'), '--json'], { env: { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` } });
    t.is(result.code, 0, result.stderr);
    const resumedFrom = (jsonData(result.stdout) as Report).files[0]?.resumedFrom ?? 0;
    t.true(resumedFrom > 1024 * 1024 && resumedFrom < 24 * 1024 * 1024, `resumed from ${resumedFrom}: only the rest was sent again`);
    t.is(await server.stored.sha256('big.bin'), await sha256File(join(local, 'big.bin')));
    t.deepEqual(await server.stored.leftovers(), [], 'the partial became the file');
  });

  test(`${backend}: a resume asked while the server still holds the cut connection's upload waits for it, then continues from the bytes held`, async (t) => {
    // Plain TCP, so that the proxy can see the server's answers.
    const server = await startServer(t, { backend, tls: false });
    const local = await tempDir(t);
    await randomFile(join(local, 'big.bin'), 24 * 1024 * 1024);
    // The server sees the cut only after it has answered the new connection's resume
    // busy: until then the cut upload is still its own.
    const proxy = await startProxy(t, server.port, { cuts: [12 * 1024 * 1024], keepCutServerSideUntil: '"code":"BUSY"' });
    const result = await ferry(['upload', join(local, 'big.bin'), '--json'], { env: { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` } });
    t.is(result.code, 0, result.stderr);
    const resumedFrom = (jsonData(result.stdout) as Report).files[0]?.resumedFrom ?? 0;
    t.true(resumedFrom > 1024 * 1024 && resumedFrom < 24 * 1024 * 1024, `resumed from ${resumedFrom}: only the rest was sent again`);
    t.is(await server.stored.sha256('big.bin'), await sha256File(join(local, 'big.bin')));
    t.deepEqual(await server.stored.leftovers(), [], 'the partial became the file');
  });

  test(`${backend}: a download cut off by the network resumes from the bytes already received and ends intact`, async (t) => {
    const server = await startServer(t, { backend });
    const local = await tempDir(t);
    await server.stored.writeRandom('big.bin', 16 * 1024 * 1024);
    const proxy = await startProxy(t, server.port, { cuts: [6 * 1024 * 1024] });
    const result = await ferry(['download', '/big.bin', '-d', local, '--json'], {
      env: { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` },
    });
    t.is(result.code, 0, result.stderr);
    const report = jsonData(result.stdout) as Report;
    const resumedFrom = report.files[0]?.resumedFrom ?? 0;
    t.true(resumedFrom > 1024 * 1024, `resumed from ${resumedFrom}`);
    t.true(resumedFrom < 16 * 1024 * 1024);
    t.is(await server.stored.sha256('big.bin'), await sha256File(join(local, 'big.bin')));
    t.deepEqual(await readdir(local), ['big.bin'], 'no part file is left');
  });

  test(`${backend}: when every attempt is cut, the CLI gives up with exit code 5 after its retries and keeps the part file`, async (t) => {
    const server = await startServer(t, { backend });
    const local = await tempDir(t);
    await server.stored.writeRandom('big.bin', 4 * 1024 * 1024);
    const proxy = await startProxy(t, server.port, { cuts: [1024 * 1024, 1024 * 1024, 1024 * 1024] });
    const result = await ferry(['--retries', '2', 'download', '/big.bin', '-d', local], {
      env: { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` },
    });
    t.is(result.code, 5, result.stderr);
    t.is(proxy.connections(), 3);
    t.deepEqual(await readdir(local), ['.big.bin.ferry-part'], 'the partial download waits for the next attempt');
  });
}
