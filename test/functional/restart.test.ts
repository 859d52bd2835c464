/**
 * A server stopped and started again on the same port and data folder, as
 * `docker stop` then `docker start` (or `systemctl restart`) does, while a
 * transfer is in flight and too slow to finish within the drain: the client
 * rides out the gap on its default retry policy and resumes where it stopped.
 */

import test from 'ava';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { jsonData, startFerry } from '../helpers/cli.js';
import { randomFile, sha256File, tempDir } from '../helpers/files.js';
import { ADMIN, spawnServer } from '../helpers/server.js';
import { eventually, freePort } from '../helpers/tools.js';

const FILE_BYTES = 24 * 1024 * 1024;

async function partialBytes(dataDir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(join(dataDir, 'partial')).catch(() => [])) {
    if (name.endsWith('.part')) total += (await stat(join(dataDir, 'partial', name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

test.serial('a stop and start of the server during an upload cut by the drain deadline loses nothing: the client waits, resumes and the file is intact', async (t) => {
  const dataDir = await tempDir(t);
  const local = await tempDir(t);
  const port = await freePort();
  const serverEnv = {
    FERRY_PORT: String(port),
    FERRY_DATA_DIR: dataDir,
    FERRY_WORKERS: '2',
    FERRY_ADMIN_PASSWORD: ADMIN.password,
    // Slow enough that the upload is still running when the short drain ends.
    FERRY_BANDWIDTH_LIMIT: '4MiB',
    FERRY_DRAIN_TIMEOUT: '1s',
  };
  const first = await spawnServer(t, serverEnv);
  await first.waitForLog((line) => line.event === 'workers-ready');
  await randomFile(join(local, 'big.bin'), FILE_BYTES);
  const expected = await sha256File(join(local, 'big.bin'));

  // No --retries: the default policy is what has to ride out the restart.
  const upload = startFerry(['--json', 'upload', join(local, 'big.bin')], {
    env: { FERRY_SERVER: `127.0.0.1:${port}`, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password },
    timeoutMs: 110_000,
  });
  await eventually(async () => ((await partialBytes(dataDir)) > 2 * 1024 * 1024 ? true : undefined), 30_000);
  first.child.kill('SIGTERM');
  t.is(await first.exited, 0);
  t.true(
    first.logs.some((line) => line.event === 'drain' && line.left === 1),
    'the drain deadline cut the upload: it was in flight when the server stopped',
  );

  const second = await spawnServer(t, serverEnv);
  await second.waitForLog((line) => line.event === 'workers-ready');
  const result = await upload.result;
  t.is(result.code, 0, result.stderr);
  const report = jsonData(result.stdout) as { files: { sha256: string; resumedFrom: number }[] };
  t.is(report.files[0]?.sha256, expected);
  t.true((report.files[0]?.resumedFrom ?? 0) > 0, 'the upload resumed from the bytes the server kept');
  t.regex(result.stderr, /retry 1 of 10 in .* s: /, 'the client said why it paused');
  t.is(await sha256File(join(dataDir, 'files', 'big.bin')), expected);
  second.child.kill('SIGTERM');
  t.is(await second.exited, 0);
});
