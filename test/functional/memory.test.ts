import test, { type ExecutionContext } from 'ava';
import { randomBytes, scryptSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FerryClient } from '../../src/client/client.js';
import { tempDir } from '../helpers/files.js';
import { sampleMemory } from '../helpers/memory.js';
import { startS3 } from '../helpers/s3.js';
import { ADMIN, spawnServer } from '../helpers/server.js';

const MB = 1024 * 1024;

/** How often the server's memory is sampled. */
const SAMPLE_MS = 25;

/** A users file entry with a cheap scrypt cost, so a thousand logins take moments. */
function cheapHash(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 32, { N: 1024, r: 8, p: 1 });
  return ['scrypt', 1024, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
}

/** Uploads and downloads 1 GiB through one worker; returns the worker's peak RSS and the two rates. */
async function gigabyteRoundTrip(t: ExecutionContext, env: Record<string, string>): Promise<{ peak: number; upMBps: number; downMBps: number }> {
  const dataDir = await tempDir(t);
  const server = await spawnServer(t, { FERRY_DATA_DIR: dataDir, FERRY_ADMIN_PASSWORD: ADMIN.password, FERRY_WORKERS: '1', ...env });
  const worker = await server.waitForLog((line) => line.event === 'worker-start');
  await server.waitForLog((line) => line.event === 'workers-ready');
  const pid = worker.pid as number;
  const client = await FerryClient.connect(server.address);
  t.teardown(() => client.close());
  await client.login(ADMIN.user, ADMIN.password);
  const block = randomBytes(MB);
  const blocks = 1024;
  const memory = sampleMemory(pid, SAMPLE_MS);
  let started = performance.now();
  const stored = await client.upload('/gigabyte.bin', { size: blocks * MB, open: () => Readable.from(Array.from({ length: blocks }, () => block)) }, { resumable: true });
  const upMBps = blocks / ((performance.now() - started) / 1000);
  let received = 0;
  started = performance.now();
  const fetched = await client.download('/gigabyte.bin', { write: async (chunk) => void (received += chunk.length) });
  const downMBps = blocks / ((performance.now() - started) / 1000);
  const peak = (await memory.stop()).sampledBytes;
  t.is(received, blocks * MB);
  t.is(fetched.sha256, stored.sha256);
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
  return { peak, upMBps, downMBps };
}

test.serial('a 1 GiB upload and download keep the serving worker under 100 MB of memory', async (t) => {
  const { peak, upMBps, downMBps } = await gigabyteRoundTrip(t, {});
  t.log(`local disk: peak worker RSS ${(peak / MB).toFixed(1)} MB; upload ${upMBps.toFixed(0)} MiB/s, download ${downMBps.toFixed(0)} MiB/s`);
  t.true(peak < 100 * MB, `peak RSS ${(peak / MB).toFixed(1)} MB`);
});

test.serial('a 1 GiB upload and download on S3 storage keep the serving worker under 150 MB of memory', async (t) => {
  const s3 = await startS3(t);
  // The default part size and queue: up to 3 parts of 8 MiB in memory per upload.
  const { peak, upMBps, downMBps } = await gigabyteRoundTrip(t, s3.env);
  t.log(`S3 (s3rver): peak worker RSS ${(peak / MB).toFixed(1)} MB; upload ${upMBps.toFixed(0)} MiB/s, download ${downMBps.toFixed(0)} MiB/s`);
  t.true(peak < 150 * MB, `peak RSS ${(peak / MB).toFixed(1)} MB`);
});

test.serial('1,000 open, logged-in connections keep the server under 300 MB of memory, and it still serves', async (t) => {
  const dataDir = await tempDir(t);
  const usersFile = join(dataDir, 'users.json');
  await writeFile(usersFile, JSON.stringify({ version: 1, users: { crowd: { password: cheapHash('crowd-password'), home: '/', permissions: ['list', 'read', 'write', 'delete'] } } }));
  const server = await spawnServer(t, {
    FERRY_DATA_DIR: dataDir,
    FERRY_USERS_FILE: usersFile,
    FERRY_MAX_CONNECTIONS: '1200',
    FERRY_MAX_CONNECTIONS_PER_IP: '1200',
    // Keep the cheap fixture hash: an argon2id upgrade would make each of the 1,000 logins cost 100 ms.
    FERRY_REHASH_PASSWORDS: 'false',
  });
  const memory = sampleMemory(server.child.pid as number, SAMPLE_MS);
  const clients: FerryClient[] = [];
  t.teardown(() => {
    for (const client of clients) client.close();
  });
  for (let batch = 0; batch < 20; batch++) {
    clients.push(
      ...(await Promise.all(
        Array.from({ length: 50 }, async () => {
          const client = await FerryClient.connect(server.address);
          await client.login('crowd', 'crowd-password');
          return client;
        }),
      )),
    );
  }
  const answers = await Promise.all(clients.map((client) => client.stat('/').then((entry) => entry.type)));
  const peak = (await memory.stop()).sampledBytes;
  t.is(answers.filter((type) => type === 'dir').length, 1000, 'every connection is served');
  t.log(`peak server RSS with 1,000 logged-in connections: ${(peak / MB).toFixed(1)} MB`);
  t.true(peak < 300 * MB, `peak RSS ${(peak / MB).toFixed(1)} MB`);
  for (const client of clients) client.close();
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});
