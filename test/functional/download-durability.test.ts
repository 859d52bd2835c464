import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FERRY_BIN } from '../helpers/cli.js';
import { randomFile, sha256File, tempDir } from '../helpers/files.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { freshKnownHostsFile } from '../helpers/tls.js';
import { requireTools } from '../helpers/tools.js';

const FILES = ['a.bin', 'b.bin', 'c.bin'];

/** Runs `ferry download` under strace and counts the fsync calls of the whole process. */
async function fsyncsOfDownload(server: TestServer, dest: string, extra: string[]): Promise<number> {
  const trace = join(dest, '..', `trace-${extra.length}-${process.pid}.txt`);
  const env = { ...process.env, ...server.env, FERRY_KNOWN_HOSTS: freshKnownHostsFile() };
  const child = spawn('strace', ['-f', '-qq', '-e', 'trace=fsync,fdatasync', '-o', trace, process.execPath, FERRY_BIN, 'download', '/set', '-d', dest, ...extra], {
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
  const lines = (await readFile(trace, 'utf8')).split('\n');
  return lines.filter((line) => /\b(fsync|fdatasync)\(/.test(line)).length;
}

test('a download is verified and renamed into place without an fsync per file; --fsync syncs each file and its folder before it is reported', async (t) => {
  if (!requireTools(t, 'strace')) return;
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
