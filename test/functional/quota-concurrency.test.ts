import test from 'ava';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { FerryClient } from '../../src/client/client.js';
import { FerryError } from '../../src/protocol/errors.js';
import { ferry } from '../helpers/cli.js';
import { bufferSource } from '../helpers/buffers.js';
import { randomFile, tempDir } from '../helpers/files.js';
import { startProxy } from '../helpers/proxy.js';
import { ADMIN, addUserWithQuota, startClusterServer, startServer } from '../helpers/server.js';
import { BACKENDS } from '../helpers/stored.js';
import { loopbackAddress } from '../helpers/tls.js';
import { eventually } from '../helpers/tools.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The error code each upload ended with ('ok' for success). */
async function outcomes(uploads: Promise<unknown>[]): Promise<string[]> {
  const settled = await Promise.allSettled(uploads);
  return settled.map((result) => (result.status === 'fulfilled' ? 'ok' : result.reason instanceof FerryError ? result.reason.code : String(result.reason)));
}

/** Eight uploads of 900 KiB sent at once on eight connections. */
async function eightAtOnce(connect: () => Promise<FerryClient>): Promise<string[]> {
  const clients = await Promise.all(Array.from({ length: 8 }, () => connect()));
  const data = randomBytes(900 * KiB);
  return outcomes(clients.map((client, index) => client.upload(`/parallel-${index}.bin`, bufferSource(data), { resumable: true })));
}

for (const backend of BACKENDS) {
  test(`${backend}: of eight 900 KiB uploads sent at once against a 1 MiB quota exactly one is stored; the others are refused and leave nothing behind`, async (t) => {
    const server = await startServer(t, { backend, limits: { defaultQuota: MiB } });
    const results = await eightAtOnce(() => server.connect());
    t.is(results.filter((result) => result === 'ok').length, 1, results.join(' '));
    t.is(results.filter((result) => result === 'QUOTA_EXCEEDED').length, 7, results.join(' '));
    t.is((await server.stored.names('')).length, 1);
    t.deepEqual(await server.stored.leftovers(), []);
  });

  test(`${backend}: an upload refused for its quota, or cut off, leaves nothing behind, not even the folders on its way`, async (t) => {
    const server = await startServer(t, { backend, limits: { defaultQuota: 2 * MiB } });
    const client = await server.connect();
    const refusal = await outcomes([client.upload('/new/deeper/big.bin', bufferSource(randomBytes(3 * MiB)))]);
    t.deepEqual(refusal, ['QUOTA_EXCEEDED']);
    t.deepEqual(await server.stored.names(''), [], 'no folder was made for the refused upload');

    const proxy = await startProxy(t, server.port, { cuts: [512 * KiB] });
    const cut = await FerryClient.connect(loopbackAddress(proxy.port, server.fingerprint));
    t.teardown(() => cut.close());
    const lost = await outcomes([cut.login('admin', 'admin-password').then(() => cut.upload('/other/place/file.bin', bufferSource(randomBytes(MiB))))]);
    t.notDeepEqual(lost, ['ok']);
    await eventually(async () => ((await server.stored.leftovers()).length === 0 ? true : undefined), 20_000);
    t.deepEqual(await server.stored.names(''), [], 'no folder was left by the upload that was cut off');
  });

  test(`${backend}: the entry limit counts files and folders; past it uploads and mkdir are refused until something is deleted`, async (t) => {
    const server = await startServer(t, { backend, limits: { maxEntries: 5 } });
    const client = await server.connect();
    await client.mkdir('/a/b/c');
    await client.upload('/a/b/c/x.bin', bufferSource(Buffer.from('x')));
    await client.upload('/a/y.bin', bufferSource(Buffer.from('y')));
    t.deepEqual(await outcomes([client.upload('/a/z.bin', bufferSource(Buffer.from('z')))]), ['QUOTA_EXCEEDED']);
    t.deepEqual(await outcomes([client.upload('/new/z.bin', bufferSource(Buffer.from('z')))]), ['QUOTA_EXCEEDED']);
    t.deepEqual(await outcomes([client.mkdir('/d')]), ['QUOTA_EXCEEDED']);
    await client.upload('/a/y.bin', bufferSource(Buffer.from('replaced'))); // Replacing adds no entry.
    await client.remove('/a/y.bin');
    await client.upload('/a/z.bin', bufferSource(Buffer.from('z')));
    t.deepEqual(await server.stored.names('a'), ['b/', 'z.bin']);
  });

  test(`${backend}, cluster: uploads and deletes alternating between two workers share one quota book, and parallel uploads on both fit exactly`, async (t) => {
    const server = await startClusterServer(t, { backend });
    const env = await addUserWithQuota(t, server, 'dana', '10MB');
    const local = await tempDir(t);
    for (const name of ['a.bin', 'b.bin', 'c.bin']) await randomFile(join(local, name), 4_200_000);
    const run = async (...args: string[]): Promise<number | null> => (await ferry(args, { env })).code;

    // Each command is a connection of its own: the primary hands them to the workers in turn.
    t.is(await run('upload', join(local, 'a.bin')), 0);
    t.is(await run('upload', join(local, 'b.bin')), 0);
    t.is(await run('upload', join(local, 'c.bin')), 7, 'a third 4.2 MB file does not fit in 10 MB, whichever worker is asked');
    t.is(await run('rm', '/a.bin'), 0);
    t.is(await run('upload', join(local, 'c.bin')), 0, 'the delete made room, whichever worker served it');
    t.is(await run('rm', '/b.bin'), 0);
    t.is(await run('rm', '/c.bin'), 0);
    t.is(await run('upload', join(local, 'a.bin')), 0);
    t.is(await run('upload', join(local, 'b.bin')), 0);
    t.is(await run('upload', join(local, 'c.bin')), 7, 'no drift after deletes on both workers');
    const workers = new Set(server.spawned.logs.filter((line) => line.event === 'transfer').map((line) => line.worker));
    t.is(workers.size, 2, 'both workers served transfers');

    await addUserWithQuota(t, server, 'erin', '1MiB');
    const results = await eightAtOnce(() => server.connect({ user: 'erin', password: 'erin-password' }));
    t.is(results.filter((result) => result === 'ok').length, 1, results.join(' '));
    t.is(results.filter((result) => result === 'QUOTA_EXCEEDED').length, 7, results.join(' '));
  });

  test(`${backend}, cluster: files added or removed behind the server's back count within FERRY_QUOTA_RESCAN`, async (t) => {
    const rescanMs = 2_000;
    const server = await startClusterServer(t, { backend, env: { FERRY_QUOTA: String(MiB), FERRY_QUOTA_RESCAN: String(rescanMs) } });
    const client = await server.connect();
    await client.upload('/small.bin', bufferSource(randomBytes(100 * KiB)));
    const probe = (): Promise<string[]> => outcomes([client.upload('/probe.bin', bufferSource(randomBytes(200 * KiB)))]);
    const written = Date.now();
    await server.stored.writeRandom('behind/the/back.bin', 900 * KiB);
    await sleep(Math.max(0, written + rescanMs - Date.now()));
    t.deepEqual(await probe(), ['QUOTA_EXCEEDED'], 'the file written behind its back counts once the interval has passed');
    const removed = Date.now();
    await server.stored.remove('behind/the/back.bin');
    await sleep(Math.max(0, removed + rescanMs - Date.now()));
    t.deepEqual(await probe(), ['ok'], 'the file removed behind its back is gone from the count once the interval has passed');
  });
}

test('cluster: uploads in the middle of a worker killed with kill -9 give their room back', async (t) => {
  const server = await startClusterServer(t, { env: { FERRY_QUOTA: String(MiB) } });
  const proxy = await startProxy(t, server.port, { pauseUpstreamAfter: 300 * KiB });
  const stalled = await FerryClient.connect(loopbackAddress(proxy.port, server.fingerprint));
  t.teardown(() => stalled.close());
  await stalled.login(ADMIN.user, ADMIN.password);
  const cut = outcomes([stalled.upload('/stalled.bin', bufferSource(randomBytes(900 * KiB)), { resumable: false })]);
  await proxy.paused;
  await eventually(async () => ((await server.stored.leftovers()).length > 0 ? true : undefined), 30_000, 20);
  const second = (): Promise<string[]> => server.connect().then((client) => outcomes([client.upload('/second.bin', bufferSource(randomBytes(900 * KiB)))]));
  t.deepEqual(await second(), ['QUOTA_EXCEEDED'], 'the stalled upload holds its room');

  // One at a time, each replaced before the next goes, so that the listening socket stays open.
  const workers = server.spawned.logs.filter((line) => line.event === 'worker-start').map((line) => line.pid as number);
  for (const pid of workers) {
    process.kill(pid, 'SIGKILL');
    await server.spawned.waitForLog((line) => line.event === 'worker-exit' && line.pid === pid);
    await eventually(async () => {
      const ready = await fetch(`http://127.0.0.1:${server.spawned.opsPort}/readyz`).then((response) => response.text());
      // Not 'degraded: 1 of 2 workers listening': every slot listens again.
      return ready.startsWith(`ready: ${workers.length} workers listening`) ? true : undefined;
    }, 30_000);
  }
  t.deepEqual(await second(), ['ok'], 'the killed worker took its reservation with it');
  stalled.close();
  t.notDeepEqual(await cut, ['ok']);
});
