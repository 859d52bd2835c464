import test from 'ava';
import { mkdir, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Entry } from '../../src/protocol/messages.js';
import { ferry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startRogueServer } from '../helpers/rogue-server.js';

const HOSTILE_NAMES = ['../../x', 'sub/../../y', '/etc/z', 'C:\\w', '..', 'sub/./z', 'sub//z', '', 'a\u0000b', 'sub/..'];

function file(name: string): Entry {
  return { name, type: 'file', size: 26, mtime: 0 };
}

/** Every file below `root`, as paths relative to it. */
async function filesBelow(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isDirectory()) found.push(relative(root, join(entry.parentPath, entry.name)));
  }
  return found;
}

for (const hostile of HOSTILE_NAMES) {
  test(`a recursive download answered with the name ${JSON.stringify(hostile)} fails with a clear message and writes nothing, inside the destination or out`, async (t) => {
    const rogue = await startRogueServer(t, {
      stat: () => ({ name: 'box', type: 'dir', size: 0, mtime: 0 }),
      list: () => [file('fine.txt'), file(hostile)],
    });
    const root = await tempDir(t);
    const dest = join(root, 'a', 'b', 'dest');
    await mkdir(dest, { recursive: true });
    const result = await ferry(['--retries', '0', 'download', '/box', '-d', dest], {
      env: { FERRY_SERVER: `127.0.0.1:${rogue.port}`, FERRY_FINGERPRINT: rogue.fingerprint, FERRY_USER: 'victim', FERRY_PASSWORD: 'pw' },
    });
    t.is(result.code, 6, result.stderr);
    t.true(result.stderr.includes(`the server sent the name ${JSON.stringify(hostile)}`), result.stderr);
    t.regex(result.stderr, /broken or hostile/);
    t.deepEqual(await filesBelow(root), [], 'no file anywhere, not even the harmless one');
    t.deepEqual(rogue.fetched, [], 'nothing was even asked for');
  });
}

test('a listing or a stat answer with a hostile name fails the command instead of being shown', async (t) => {
  const rogue = await startRogueServer(t, {
    stat: () => file('../etc/passwd'),
    list: () => [file('fine.txt'), file('a/b')],
  });
  const env = { FERRY_SERVER: `127.0.0.1:${rogue.port}`, FERRY_FINGERPRINT: rogue.fingerprint, FERRY_USER: 'victim', FERRY_PASSWORD: 'pw' };
  const listed = await ferry(['--retries', '0', 'ls', '/'], { env });
  t.is(listed.code, 6, listed.stderr);
  t.true(listed.stderr.includes('the server sent the name "a/b"'), listed.stderr);
  const stat = await ferry(['--retries', '0', 'stat', '/f'], { env });
  t.is(stat.code, 6, stat.stderr);
  t.true(stat.stderr.includes('the server sent the name "../etc/passwd"'), stat.stderr);
});

test('a well-behaved answer from the same test server downloads as usual (the test server itself works)', async (t) => {
  const rogue = await startRogueServer(t, {
    stat: () => ({ name: 'box', type: 'dir', size: 0, mtime: 0 }),
    list: () => [{ name: 'sub', type: 'dir', size: 0, mtime: 0 }, file('sub/fine.txt'), file('top.txt')],
  });
  const dest = await tempDir(t);
  const result = await ferry(['--retries', '0', 'download', '/box', '-d', dest], {
    env: { FERRY_SERVER: `127.0.0.1:${rogue.port}`, FERRY_FINGERPRINT: rogue.fingerprint, FERRY_USER: 'victim', FERRY_PASSWORD: 'pw' },
  });
  t.is(result.code, 0, result.stderr);
  t.deepEqual((await filesBelow(dest)).sort(), [join('box', 'sub', 'fine.txt'), join('box', 'top.txt')]);
});
