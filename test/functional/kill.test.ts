import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry, jsonData, startFerry } from '../helpers/cli.js';
import { randomFile, sha256, sha256File, tempDir } from '../helpers/files.js';
import { startProxy } from '../helpers/proxy.js';
import { ADMIN, spawnServer, startServer } from '../helpers/server.js';
import { NO_OBSERVER, type TransferRecord } from '../../src/server/session.js';
import { DATA_CHUNK_BYTES } from '../../src/protocol/frames.js';
import { partialBytes } from '../helpers/stored.js';
import { eventually } from '../helpers/tools.js';

interface Report {
  files: { remote: string; sha256: string; resumedFrom: number }[];
}

const FILE_BYTES = 12 * 1024 * 1024;
/** Bytes of a stream that are not file data: handshake, login, request and frame headers. */
const FRAMING_SLACK_BYTES = 64 * 1024;

test.serial('kill -9 of the server while it replaces a file, 20 times at random points: the name always holds a whole version, and the upload then resumes and ends intact', async (t) => {
  const dataDir = await tempDir(t);
  const local = await tempDir(t);
  const serverEnv = { FERRY_DATA_DIR: dataDir, FERRY_ADMIN_PASSWORD: ADMIN.password, FERRY_WORKERS: '0' };
  const victim = join(dataDir, 'files', 'victim.bin');
  let current = randomBytes(FILE_BYTES);
  await writeFile(join(local, 'victim.bin'), current);
  let server = await spawnServer(t, serverEnv);
  const clientEnv = (port: number) => ({ FERRY_SERVER: `127.0.0.1:${port}`, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password });
  t.is((await ferry(['upload', join(local, 'victim.bin')], { env: clientEnv(server.port) })).code, 0);

  let resumed = 0;
  let resentBytes = 0;
  for (let trial = 0; trial < 20; trial++) {
    const next = randomBytes(FILE_BYTES);
    await writeFile(join(local, 'victim.bin'), next);
    const pauseAt = 256 * 1024 + Math.floor(Math.random() * (FILE_BYTES - 512 * 1024));
    const proxy = await startProxy(t, server.port, { pauseUpstreamAfter: pauseAt });
    const upload = startFerry(['--retries', '0', 'upload', join(local, 'victim.bin')], { env: clientEnv(proxy.port) });
    await proxy.paused;
    // The kill comes once the server has taken in what reached it (on a busy machine it may lag
    // behind the proxy): every whole DATA frame it received must then be on disk, the last one
    // written although no full batch followed it.
    const received = pauseAt - DATA_CHUNK_BYTES - FRAMING_SLACK_BYTES;
    await eventually(async () => ((await partialBytes(dataDir)) >= received ? true : undefined), 60_000, 10);
    server.child.kill('SIGKILL');
    await server.exited;
    upload.child.kill('SIGKILL');
    await upload.result;

    const onDisk = await sha256File(victim);
    t.is(onDisk, sha256(current), `trial ${trial}: after kill -9 at byte ${pauseAt} the file is the old version, whole`);
    const held = await partialBytes(dataDir);

    server = await spawnServer(t, serverEnv);
    const again = await ferry(['upload', join(local, 'victim.bin'), '--json'], { env: clientEnv(server.port) });
    t.is(again.code, 0, again.stderr);
    const resumedFrom = (jsonData(again.stdout) as Report).files[0]?.resumedFrom ?? 0;
    if (received > 0) t.true(held >= received, `trial ${trial}: the server kept ${held} of the ${pauseAt} bytes sent before the kill`);
    if (held > 0) t.is(resumedFrom, held, `trial ${trial}: the upload continued from the ${held} bytes kept`);
    if (resumedFrom > 0) resumed++;
    resentBytes += FILE_BYTES - resumedFrom;
    current = next;
    t.is(await sha256File(victim), sha256(current), `trial ${trial}: the new version is whole`);
  }
  t.true(resumed >= 15, `${resumed} of 20 trials resumed`);
  t.log(`kill -9 trials survived: 20; resumed: ${resumed}; bytes re-sent on resume: ${resentBytes} of ${20 * FILE_BYTES}`);
  t.deepEqual(await readdir(join(dataDir, 'partial')), [], 'no partial is left once every upload completed');
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});

test('the client killed mid-upload and run again continues the upload and ends intact', async (t) => {
  let setAside: () => void = () => undefined;
  const aborted = new Promise<void>((resolve) => (setAside = resolve));
  const observer = { ...NO_OBSERVER, transfer: (record: TransferRecord) => record.result === 'aborted' && setAside() };
  const server = await startServer(t, { observer });
  const local = await tempDir(t);
  await randomFile(join(local, 'big.bin'), 24 * 1024 * 1024);
  const proxy = await startProxy(t, server.port, { pauseUpstreamAfter: 10 * 1024 * 1024 });
  const first = startFerry(['upload', join(local, 'big.bin')], { env: { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` } });
  await proxy.paused;
  // Let the server write what arrived (up to the pause) before the client dies.
  await eventually(async () => ((await partialBytes(server.dataDir)) >= 8 * 1024 * 1024 ? true : undefined), 10_000, 20);
  first.child.kill('SIGKILL');
  await first.result;
  // The server sees the connection drop and sets the partial aside (its lock goes away).
  await aborted;
  const held = await partialBytes(server.dataDir);

  const again = await ferry(['upload', join(local, 'big.bin'), '--json'], { env: server.env });
  t.is(again.code, 0, again.stderr);
  const resumedFrom = (jsonData(again.stdout) as Report).files[0]?.resumedFrom ?? 0;
  t.true(held > 0);
  t.is(resumedFrom, held, 'the upload continued from the bytes the server kept');
  t.is(await sha256File(join(server.filesDir, 'big.bin')), await sha256File(join(local, 'big.bin')));
});

test('the client killed mid-download and run again continues from its part file and ends intact', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  await randomFile(join(server.filesDir, 'big.bin'), 24 * 1024 * 1024);
  const proxy = await startProxy(t, server.port, { pauseDownstreamAfter: 10 * 1024 * 1024 });
  const first = startFerry(['download', '/big.bin', '-d', local], { env: { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` } });
  await proxy.paused;
  const part = join(local, '.big.bin.ferry-part');
  await eventually(async () => ((await stat(part).catch(() => undefined))?.size ?? 0) >= 8 * 1024 * 1024 || undefined, 10_000, 20);
  first.child.kill('SIGKILL');
  await first.result;
  const held = (await stat(part)).size;

  const again = await ferry(['download', '/big.bin', '-d', local, '--json'], { env: server.env });
  t.is(again.code, 0, again.stderr);
  const resumedFrom = (jsonData(again.stdout) as Report).files[0]?.resumedFrom ?? 0;
  t.is(resumedFrom, held, 'the download continued from the bytes already on disk');
  t.is(await sha256File(join(local, 'big.bin')), await sha256File(join(server.filesDir, 'big.bin')));
  t.deepEqual(await readdir(local), ['big.bin']);
});
