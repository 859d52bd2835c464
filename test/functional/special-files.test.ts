/**
 * Only regular files and folders are served. A FIFO, socket or device that lands
 * in a home by another route is refused at once: opening a FIFO for reading would
 * otherwise wait for a writer and hold one of the few threads every file operation
 * of the server shares, so a handful of requests would stall every user.
 */

import { spawnSync, execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../../src/protocol/errors.js';
import { downloadBytes } from '../helpers/buffers.js';
import { startServer } from '../helpers/server.js';
import { withTools } from '../helpers/tools.js';

const ALICE = { user: 'alice', password: 'alice-password' };
const BOB = { user: 'bob', password: 'bob-password' };
/** Far above what a refusal takes, far below "stalled". */
const PROMPT_MS = 15_000;

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms: the server is stalled`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

withTools('mkfifo', 'python3')('stat and get of a FIFO in a home are refused at once, many at a time, and other users are still served meanwhile', async (t) => {
  t.timeout(90_000);
  const server = await startServer(t);
  await server.addUser(ALICE.user, ALICE.password, { home: '/alice' });
  await server.addUser(BOB.user, BOB.password, { home: '/bob' });
  await mkdir(join(server.filesDir, 'alice'), { recursive: true });
  await mkdir(join(server.filesDir, 'bob'), { recursive: true });
  await writeFile(join(server.filesDir, 'bob', 'report.txt'), 'bob still gets his file');
  const fifo = join(server.filesDir, 'alice', 'pipe');
  execFileSync('mkfifo', [fifo]);
  execFileSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(join(server.filesDir, 'alice', 'sock'))})`]);
  // Should a read be stuck on the FIFO, a writer lets it go, so that a failure here does not hang the run.
  t.teardown(() => void spawnSync('timeout', ['3', 'sh', '-c', `while :; do : > '${fifo}'; done`]));

  const alice = await server.connect(ALICE);
  const bob = await server.connect(BOB);
  const requests = Array.from({ length: 16 }, (_, index) => {
    const path = index % 4 === 3 ? 'sock' : 'pipe';
    return index % 2 === 0 ? alice.stat(path) : downloadBytes(alice, path);
  });
  const answers = await within(Promise.allSettled(requests), PROMPT_MS, 'refusing 16 requests for special files');
  for (const answer of answers) {
    t.is(answer.status, 'rejected');
    if (answer.status === 'rejected') {
      t.true(answer.reason instanceof FerryError);
      t.is((answer.reason as FerryError).code, 'BAD_PATH');
      t.regex((answer.reason as FerryError).message, /FIFO, socket or device, not a file or folder/);
    }
  }
  t.is((await within(downloadBytes(bob, 'report.txt'), PROMPT_MS, "bob's download")).toString(), 'bob still gets his file');
  t.deepEqual(
    (await within(alice.list('/'), PROMPT_MS, 'a listing beside a FIFO')).map((entry) => entry.name),
    [],
    'listings leave special files out',
  );
  await alice.quit();
  await bob.quit();
});
