import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FERRY_BIN } from '../helpers/cli.js';
import { randomFile, sha256File, tempDir } from '../helpers/files.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { freshKnownHostsFile } from '../helpers/tls.js';
import { withTools } from '../helpers/tools.js';

const FILES = ['a.bin', 'b.bin', 'c.bin'];

/** Runs `ferry download REMOTE -d DEST ...extra` under strace, tracing `calls`; returns the trace's lines. */
async function tracedDownload(server: TestServer, remote: string, dest: string, extra: string[], calls: string): Promise<string[]> {
  const trace = join(dest, '..', `trace-${randomUUID()}.txt`);
  const env = { ...process.env, ...server.env, FERRY_KNOWN_HOSTS: freshKnownHostsFile() };
  const child = spawn('strace', ['-f', '-qq', '-e', `trace=${calls}`, '-o', trace, process.execPath, FERRY_BIN, 'download', remote, '-d', dest, ...extra], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`ferry download ${extra.join(' ')} failed (${code}): ${stderr}`);
  return (await readFile(trace, 'utf8')).split('\n');
}

/** The fsync calls of a whole `ferry download` of /set. */
async function fsyncsOfDownload(server: TestServer, dest: string, extra: string[]): Promise<number> {
  const lines = await tracedDownload(server, '/set', dest, extra, 'fsync,fdatasync');
  return lines.filter((line) => /\b(fsync|fdatasync)\(/.test(line)).length;
}

withTools('strace')('a download is verified and renamed into place without an fsync per file; --fsync syncs each file and its folder before it is reported', async (t) => {
  const server = await startServer(t);
  await mkdir(join(server.filesDir, 'set'));
  for (const name of FILES) await randomFile(join(server.filesDir, 'set', name), 256 * 1024);
  const root = await tempDir(t);

  const plain = join(root, 'plain');
  const plainSyncs = await fsyncsOfDownload(server, plain, []);
  const durable = join(root, 'durable');
  const durableSyncs = await fsyncsOfDownload(server, durable, ['--fsync']);

  t.true(plainSyncs < FILES.length, `by default no file is synced one by one (saw ${plainSyncs} fsync calls)`);
  t.true(durableSyncs - plainSyncs >= 2 * FILES.length, `--fsync syncs each file and its folder (saw ${durableSyncs} against ${plainSyncs})`);
  for (const dest of [plain, durable]) {
    t.deepEqual((await readdir(join(dest, 'set'))).sort(), FILES, 'only the final names, no part files');
    for (const name of FILES) t.is(await sha256File(join(dest, 'set', name)), await sha256File(join(server.filesDir, 'set', name)));
  }
});

withTools('strace')('a large download is written with direct I/O and lands intact, its unaligned tail included', async (t) => {
  const server = await startServer(t);
  // Past the direct-I/O threshold, and not a whole number of pages.
  await randomFile(join(server.filesDir, 'big.bin'), 9 * 1024 * 1024 + 1234);
  const dest = join(await tempDir(t), 'into');
  await mkdir(dest);
  const lines = await tracedDownload(server, '/big.bin', dest, [], 'openat');
  t.true(
    lines.some((line) => line.includes('.big.bin.ferry-part') && line.includes('O_DIRECT')),
    'the part file is opened for direct writes',
  );
  t.is(await sha256File(join(dest, 'big.bin')), await sha256File(join(server.filesDir, 'big.bin')));
  t.deepEqual(await readdir(dest), ['big.bin']);
});
