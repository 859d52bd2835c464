/**
 * A server whose disk fills up: the data folder is a small tmpfs, so the real
 * ENOSPC of a real file system reaches the real server process. Mounting needs
 * root; under CI=true a missing capability is a failure, elsewhere the tests are
 * registered skipped, saying why.
 */

import type { ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { createReadStream, watch } from 'node:fs';
import { open, readFile, readdir, statfs, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FerryClient, type UploadSource } from '../../src/client/client.js';
import { FerryError, systemErrorCode } from '../../src/protocol/errors.js';
import { ferry, jsonData } from '../helpers/cli.js';
import { sha256, tempDir } from '../helpers/files.js';
import { scrape, sumSamples } from '../helpers/metrics.js';
import { spawnServer, type SpawnedServer } from '../helpers/server.js';
import { cannotMountTmpfs, mountTmpfs } from '../helpers/tmpfs.js';
import { eventually, runnableIf } from '../helpers/tools.js';

const MiB = 1024 * 1024;
const VOLUME_BYTES = 24 * MiB;
const PRECIOUS_BYTES = 4 * MiB;
/** Far more than the volume holds, so a server that took it all would be obvious. */
const HUGE_BYTES = 256 * MiB;
/**
 * What may still be in flight when the refusal arrives: socket buffers on both
 * sides of loopback and the server's last write batch. Well below HUGE_BYTES.
 */
const IN_FLIGHT_SLACK_BYTES = 32 * MiB;
const ADMIN_PASSWORD = 'disk-full-admin-password';
const SETTLE_MS = 10_000;

interface FullServer {
  server: SpawnedServer;
  mountDir: string;
  tmpDir: string;
  filesDir: string;
  env: Record<string, string>;
  connect(): Promise<FerryClient>;
}

const diskTest = runnableIf(cannotMountTmpfs());

/** A real ferry-server child whose data folder is a fresh tmpfs. */
async function serverOnSmallDisk(t: ExecutionContext): Promise<FullServer> {
  const mountDir = await mountTmpfs(t, VOLUME_BYTES);
  const server = await spawnServer(t, { FERRY_DATA_DIR: mountDir, FERRY_ADMIN_PASSWORD: ADMIN_PASSWORD, FERRY_WORKERS: '0' });
  // Teardowns run last-first: this one ends the server before the tmpfs is unmounted.
  t.teardown(async () => {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
  });
  return {
    server,
    mountDir,
    tmpDir: join(mountDir, 'tmp'),
    filesDir: join(mountDir, 'files'),
    env: { ...server.env, FERRY_USER: 'admin', FERRY_PASSWORD: ADMIN_PASSWORD },
    async connect() {
      const client = await FerryClient.connect(server.address);
      t.teardown(() => client.close());
      await client.login('admin', ADMIN_PASSWORD);
      return client;
    },
  };
}

async function freeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}

function bufferSource(data: Buffer): UploadSource {
  return { size: data.length, open: () => Readable.from([data]) };
}

/**
 * A sparse local file of `size` bytes read the way the CLI reads files: the
 * client reads zeros at no cost to the local disk, the server's tmpfs must
 * really store them.
 */
async function sparseFile(t: ExecutionContext, size: number): Promise<string> {
  const path = join(await tempDir(t), 'huge.bin');
  const handle = await open(path, 'w');
  await handle.truncate(size);
  await handle.close();
  return path;
}

function fileSource(path: string, size: number): UploadSource {
  return { size, open: () => createReadStream(path, { highWaterMark: MiB }) };
}

/**
 * An upload source that yields `before` bytes (of the `size` it announces) and then
 * holds the request open, as a slow or stalled sender does, until released.
 */
function stallingSource(size: number, before: number): { source: UploadSource; release(): void } {
  const block = Buffer.alloc(MiB, 0x5a);
  let release = (): void => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let made = 0; made < before; made += block.length) yield block;
    await released;
  }
  return { source: { size, open: () => Readable.from(chunks()) }, release: () => release() };
}

async function downloadBytes(client: FerryClient, path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await client.download(path, { write: async (chunk) => void chunks.push(Buffer.from(chunk)) });
  return Buffer.concat(chunks);
}

/** Uploads more than the disk can hold; returns the error and how many bytes the client sent. */
async function uploadTooMuch(t: ExecutionContext, client: FerryClient, path: string): Promise<{ error: unknown; sent: number; ms: number }> {
  const huge = await sparseFile(t, HUGE_BYTES);
  let sent = 0;
  const started = performance.now();
  const error = await client.upload(path, fileSource(huge, HUGE_BYTES), { onProgress: (done) => (sent = done) }).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  return { error, sent, ms: Math.round(performance.now() - started) };
}

async function tmpIsEmpty(full: FullServer): Promise<true | undefined> {
  const left = await readdir(full.tmpDir);
  return left.length === 0 ? true : undefined;
}

async function freeSpaceIs(dir: string, expected: number): Promise<true | undefined> {
  return (await freeBytes(dir)) === expected ? true : undefined;
}

function errorCode(error: unknown): string | undefined {
  return error instanceof FerryError ? error.code : undefined;
}

async function healthz(server: SpawnedServer): Promise<number> {
  return (await fetch(`http://127.0.0.1:${server.opsPort}/healthz`)).status;
}

async function readyz(server: SpawnedServer): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${server.opsPort}/readyz`);
  return { status: response.status, body: (await response.text()).trim() };
}

function isAlive(server: SpawnedServer): boolean {
  return server.child.exitCode === null && server.child.signalCode === null;
}

/** Fills the volume holding `path` until the file system says ENOSPC. */
async function fillDisk(path: string): Promise<void> {
  const handle = await open(path, 'w');
  const block = Buffer.alloc(64 * 1024, 0xee);
  try {
    for (;;) {
      try {
        await handle.write(block);
      } catch (error) {
        if (systemErrorCode(error) === 'ENOSPC') return;
        throw error;
      }
    }
  } finally {
    await handle.close();
  }
}

/** After the failures: a small upload and download work, the process lives and /healthz answers 200. */
async function assertStillServing(t: ExecutionContext, full: FullServer, client: FerryClient): Promise<void> {
  const small = randomBytes(64 * 1024);
  const stored = await client.upload('/after/small.bin', bufferSource(small));
  t.is(stored.sha256, sha256(small));
  t.true((await downloadBytes(client, '/after/small.bin')).equals(small), 'a small file uploaded after the failure downloads intact');
  t.is(await healthz(full.server), 200);
  t.true(isAlive(full.server), 'the server process is still running');
}

diskTest.serial('replacing a file with one larger than the free space fails promptly with NO_SPACE, removes the partial and leaves the original intact', async (t) => {
  t.timeout(60_000);
  const full = await serverOnSmallDisk(t);
  const client = await full.connect();
  const precious = randomBytes(PRECIOUS_BYTES);
  await client.upload('/precious.bin', bufferSource(precious));
  const freeBefore = await freeBytes(full.mountDir);

  const { error, sent, ms } = await uploadTooMuch(t, client, '/precious.bin');
  t.log(`free before: ${freeBefore} bytes; the client sent ${sent} of ${HUGE_BYTES} bytes in ${ms} ms before NO_SPACE`);
  t.is(errorCode(error), 'NO_SPACE', String(error));
  t.regex((error as Error).message, /disk space/);
  t.true(sent < freeBefore + IN_FLIGHT_SLACK_BYTES, `the client stopped soon after the disk filled (sent ${sent} bytes, ${freeBefore} were free)`);

  await eventually(() => tmpIsEmpty(full), SETTLE_MS);
  await eventually(() => freeSpaceIs(full.mountDir, freeBefore), SETTLE_MS);
  t.true((await downloadBytes(client, '/precious.bin')).equals(precious), 'the original downloads byte for byte');
  t.true((await readFile(join(full.filesDir, 'precious.bin'))).equals(precious), 'the original is unchanged on disk');
  t.deepEqual(await readdir(full.filesDir), ['precious.bin']);
  await assertStillServing(t, full, client);
});

diskTest.serial('a new file larger than the free space is refused by the CLI with exit code 1 and a message about disk space', async (t) => {
  t.timeout(60_000);
  const full = await serverOnSmallDisk(t);
  const big = await sparseFile(t, HUGE_BYTES);
  const freeBefore = await freeBytes(full.mountDir);

  const started = performance.now();
  const up = await ferry(['upload', big, '-d', '/incoming', '--json'], { env: full.env, timeoutMs: 50_000 });
  t.log(`the CLI exited with ${up.code} after ${Math.round(performance.now() - started)} ms; stderr: ${up.stderr.trim()}`);
  t.is(up.code, 1, 'NO_SPACE is an "other error" (exit code 1) in the README\'s exit codes');
  t.regex(up.stderr, /disk space/i);
  const report = jsonData(up.stdout) as { ok: boolean; files: { remote: string; error?: { code: string } }[] };
  t.false(report.ok);
  t.is(report.files[0]?.error?.code, 'NO_SPACE');

  await eventually(() => tmpIsEmpty(full), SETTLE_MS);
  await eventually(() => freeSpaceIs(full.mountDir, freeBefore), SETTLE_MS);
  t.deepEqual(await readdir(full.filesDir), [], 'no trace of the refused file is left, not even the folder it was sent to');

  const local = await tempDir(t);
  const small = join(local, 'small.txt');
  await writeFile(small, 'still here\n');
  const upSmall = await ferry(['upload', small, '-d', '/incoming'], { env: full.env });
  t.is(upSmall.code, 0, upSmall.stderr);
  const back = await tempDir(t);
  const down = await ferry(['download', '/incoming/small.txt', '-d', back], { env: full.env });
  t.is(down.code, 0, down.stderr);
  t.is(await readFile(join(back, 'small.txt'), 'utf8'), 'still here\n');
  t.is(await healthz(full.server), 200);
  t.true(isAlive(full.server));
});

diskTest.serial('while the disk is completely full downloads still work, uploads fail with NO_SPACE, and uploads work again once space is freed', async (t) => {
  t.timeout(60_000);
  const full = await serverOnSmallDisk(t);
  const client = await full.connect();
  const precious = randomBytes(PRECIOUS_BYTES);
  await client.upload('/precious.bin', bufferSource(precious));
  const freeBefore = await freeBytes(full.mountDir);
  const filler = join(full.mountDir, 'filler.bin');
  await fillDisk(filler);
  t.is(await freeBytes(full.mountDir), 0, 'the volume is full');

  const ready = await readyz(full.server);
  t.log(`/readyz on a full disk: ${ready.status} ${ready.body}`);
  t.is(ready.status, 503, 'ready means storage is writable');
  t.is(sumSamples(await scrape(full.server.opsPort), 'ferry_storage_free_bytes'), 0);
  t.is(await healthz(full.server), 200, '/healthz still says the process lives');

  const downloaded = await downloadBytes(client, '/precious.bin');
  t.is(sha256(downloaded), sha256(precious), 'a download works on a full disk');

  const tiny = await client.upload('/tiny.txt', bufferSource(Buffer.from('no room\n'))).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  t.is(errorCode(tiny), 'NO_SPACE', String(tiny));
  const { error, sent, ms } = await uploadTooMuch(t, client, '/precious.bin');
  t.log(`on a full disk the client sent ${sent} of ${HUGE_BYTES} bytes in ${ms} ms before NO_SPACE`);
  t.is(errorCode(error), 'NO_SPACE', String(error));
  t.true(sent < IN_FLIGHT_SLACK_BYTES, `the client stopped early on a full disk (sent ${sent} bytes)`);
  await eventually(() => tmpIsEmpty(full), SETTLE_MS);
  t.true((await readFile(join(full.filesDir, 'precious.bin'))).equals(precious), 'the original is unchanged on disk');

  await unlink(filler);
  t.is(await freeBytes(full.mountDir), freeBefore, 'freeing the filler gives all the space back');
  t.is(sumSamples(await scrape(full.server.opsPort), 'ferry_storage_free_bytes'), freeBefore);
  await eventually(async () => ((await readyz(full.server)).status === 200 ? true : undefined), SETTLE_MS);
  await assertStillServing(t, full, client);
  t.true((await downloadBytes(client, '/precious.bin')).equals(precious));
});

diskTest.serial('a refused upload gives its disk space back at once, even while its sender has not finished sending', async (t) => {
  t.timeout(60_000);
  const full = await serverOnSmallDisk(t);
  const freeBefore = await freeBytes(full.mountDir);
  // The partial may live only for moments (as it should): watch for it rather than poll.
  const watcher = watch(full.tmpDir);
  t.teardown(() => watcher.close());
  const partialCreated = new Promise<void>((resolve) =>
    watcher.on('change', (_event, name) => {
      if (String(name).endsWith('.part')) resolve();
    }),
  );
  const stalled = stallingSource(HUGE_BYTES, freeBefore + 2 * MiB);
  t.teardown(stalled.release);
  const sender = await full.connect();
  const refused = sender.upload('/stalled.bin', stalled.source).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  await partialCreated;

  // Once the server has refused the upload its partial should go, though the sender is still connected and has not sent END.
  const freedWhileSenderConnected = await eventually(
    async () => (await tmpIsEmpty(full)) && (await freeSpaceIs(full.mountDir, freeBefore)),
    SETTLE_MS,
  ).then(
    () => true,
    () => false,
  );
  const other = await full.connect();
  const small = randomBytes(64 * 1024);
  const otherUploadWhileSenderConnected = await other.upload('/other.bin', bufferSource(small)).then(
    (result) => result.sha256,
    (failure: unknown) => String(failure),
  );

  stalled.release();
  t.is(errorCode(await refused), 'NO_SPACE');
  await eventually(() => tmpIsEmpty(full), SETTLE_MS);
  t.true(isAlive(full.server));
  t.deepEqual(
    { freedWhileSenderConnected, otherUploadWhileSenderConnected },
    { freedWhileSenderConnected: true, otherUploadWhileSenderConnected: sha256(small) },
    'the partial of a refused upload must not hold the disk full until its sender finishes sending',
  );
});
