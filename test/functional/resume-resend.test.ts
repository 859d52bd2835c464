import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry, jsonData, startFerry } from '../helpers/cli.js';
import { randomFile, sha256File, tempDir } from '../helpers/files.js';
import { startProxy } from '../helpers/proxy.js';
import { ADMIN, spawnServer } from '../helpers/server.js';
import { partialBytes } from '../helpers/stored.js';
import { eventually } from '../helpers/tools.js';

interface Report {
  files: { resumedFrom: number }[];
}

const MIB = 1024 * 1024;
const FILE_BYTES = 64 * MIB;
/** What a resume may send again of what had already been sent before the kill. */
const RESEND_BOUND = 8 * MIB + 0.05 * FILE_BYTES;
/** Paced so that the kill lands mid-upload on a fast machine, and the test still ends in seconds on a slow one. */
const PACE_BYTES_PER_SECOND = 24 * MIB;

/**
 * What a crash of the machine may do to the partials of a data folder: every byte
 * not covered by the last checkpoint's record (all of them without one) is lost,
 * here garbage, and the machine has booted again.
 */
async function loseWhatWasNotDurable(dataDir: string): Promise<void> {
  const dir = join(dataDir, 'partial');
  for (const name of (await readdir(dir)).filter((entry) => entry.endsWith('.part'))) {
    const recordPath = join(dir, name.replace(/\.part$/, '.held'));
    const record = await readFile(recordPath, 'utf8').then((text) => JSON.parse(text) as { length: number; boot: string }, () => undefined);
    const durable = record?.length ?? 0;
    const handle = await open(join(dir, name), 'r+');
    try {
      const size = (await handle.stat()).size;
      for (let at = durable; at < size; at += MIB) await handle.write(randomBytes(Math.min(MIB, size - at)), 0, Math.min(MIB, size - at), at);
    } finally {
      await handle.close();
    }
    if (record) await writeFile(recordPath, JSON.stringify({ ...record, boot: 'a boot before the crash' }));
  }
}

/**
 * Uploads a 64 MiB file through a paced proxy, kills `victim` with SIGKILL once half
 * of it is on the server's disk, uploads again and measures what the second upload
 * sent again: the bytes that had reached the server before the kill minus where
 * the second upload began.
 */
async function resentAfterKill(t: ExecutionContext, victim: 'client' | 'server' | 'machine'): Promise<number> {
  const dataDir = await tempDir(t);
  const local = await tempDir(t);
  const file = join(local, 'big.bin');
  await randomFile(file, FILE_BYTES);
  const serverEnv = { FERRY_DATA_DIR: dataDir, FERRY_ADMIN_PASSWORD: ADMIN.password, FERRY_WORKERS: '0' };
  const clientEnv = (port: number) => ({ FERRY_SERVER: `127.0.0.1:${port}`, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password });
  let server = await spawnServer(t, serverEnv);
  const proxy = await startProxy(t, server.port, { upstreamBytesPerSecond: PACE_BYTES_PER_SECOND });
  const first = startFerry(['--retries', '0', 'upload', file], { env: clientEnv(proxy.port) });
  await eventually(async () => ((await partialBytes(dataDir)) >= FILE_BYTES / 2 ? true : undefined), 60_000, 10);
  if (victim === 'client') {
    first.child.kill('SIGKILL');
    await first.result;
  } else {
    server.child.kill('SIGKILL');
    await server.exited;
    await first.result;
    if (victim === 'machine') await loseWhatWasNotDurable(dataDir);
    server = await spawnServer(t, serverEnv);
  }
  // What the proxy still held when the client died reaches the server (or its closed socket) first.
  await eventually(async () => (proxy.openSockets() === 0 ? true : undefined), 30_000, 10);
  // Everything the proxy passed on had reached the server's socket (login and framing included).
  const delivered = proxy.upstreamBytes();
  // The server sets the partial aside once it sees the connection gone; the next upload waits for that.
  const again = await eventually(async () => {
    const run = await ferry(['upload', file, '--json'], { env: clientEnv(server.port) });
    return run.code === 0 ? run : undefined;
  }, 30_000, 50);
  const resumedFrom = (jsonData(again.stdout) as Report).files[0]?.resumedFrom ?? 0;
  t.is(await sha256File(join(dataDir, 'files', 'big.bin')), await sha256File(file));
  const resent = Math.max(delivered - resumedFrom, 0);
  t.log(`kill -9 of the ${victim}: ${delivered} bytes delivered, resumed from ${resumedFrom}, ${resent} sent again (bound ${RESEND_BOUND})`);
  server.child.kill('SIGTERM');
  await server.exited;
  return resent;
}

test('after kill -9 of the client mid-upload, the next upload sends again at most 8 MiB + 5% of what had reached the server', async (t) => {
  t.true((await resentAfterKill(t, 'client')) <= RESEND_BOUND);
});

test('after kill -9 of the server mid-upload, the next upload sends again at most 8 MiB + 5% of what had reached the server', async (t) => {
  t.true((await resentAfterKill(t, 'server')) <= RESEND_BOUND);
});

test('after a crash of the machine mid-upload, the next upload sends again at most 8 MiB + 5% of what had reached the server', async (t) => {
  t.true((await resentAfterKill(t, 'machine')) <= RESEND_BOUND);
});
