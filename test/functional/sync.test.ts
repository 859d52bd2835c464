import test from 'ava';
import { mkdir, readFile, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry, jsonData } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { scrape, sumSamples } from '../helpers/metrics.js';
import { ADMIN, spawnServer, startServer, type SpawnedServer } from '../helpers/server.js';
import { BACKENDS } from '../helpers/stored.js';

const OLD = Date.parse('2021-05-05T05:05:05.000Z') / 1000;
const NEWER = Date.parse('2022-06-06T06:06:06.000Z') / 1000;

function clientEnv(server: SpawnedServer): Record<string, string> {
  return { ...server.env, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password };
}

async function put(root: string, path: string, content: string, time = OLD): Promise<void> {
  const file = join(root, ...path.split('/'));
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, content);
  await utimes(file, time, time);
}

async function bytesMoved(server: SpawnedServer, direction: 'upload' | 'download'): Promise<number> {
  return sumSamples(await scrape(server.opsPort), 'ferry_transfer_bytes_total', { direction });
}

/** The data of sync's --json envelope. */
interface SyncJson {
  ok: boolean;
  actions: { action: string; path: string; reason?: string }[];
  sent: { files: number; bytes: number };
  timesSet: number;
  skipped: number;
  deleted: number;
}

/** Every file below `root` with its content, by '/'-separated path. */
async function localTree(root: string): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    found[path.slice(root.length + 1).split('\\').join('/')] = await readFile(path, 'utf8');
  }
  return found;
}

test('sync of a tree with additions, changes, deletions and excludes follows its dry-run plan, and a second run sends 0 file bytes', async (t) => {
  const dataDir = await tempDir(t, 'ferry-sync-data-');
  const server = await spawnServer(t, { FERRY_ADMIN_PASSWORD: ADMIN.password, FERRY_DATA_DIR: dataDir, FERRY_AUTH_TIMEOUT: '60s' });
  const env = clientEnv(server);
  const src = await tempDir(t, 'ferry-sync-src-');
  await put(src, 'keep.txt', 'unchanged');
  await put(src, 'grows.txt', 'short');
  await put(src, 'same-size.txt', 'aaaa');
  await put(src, 'touched.txt', 'same bytes');
  await put(src, 'gone.txt', 'removed later');
  await put(src, 'old/inside.txt', 'the whole folder goes later');
  await put(src, '.ferryignore', 'node_modules/\n');
  await put(src, 'node_modules/dep/index.js', 'excluded by .ferryignore');
  await put(src, 'debug.log', 'excluded by --exclude');
  await symlink(join(src, 'keep.txt'), join(src, 'link.txt'));

  const first = await ferry(['sync', src, ':/mirror', '--exclude', '*.log'], { env });
  t.is(first.code, 0, first.stderr);
  t.regex(first.stderr, /link\.txt is a symbolic link: skipped/);
  const listed = await ferry(['ls', '/mirror', '--json'], { env });
  t.deepEqual(
    (jsonData(listed.stdout) as { name: string }[]).map((entry) => entry.name).sort(),
    ['.ferryignore', 'gone.txt', 'grows.txt', 'keep.txt', 'old', 'same-size.txt', 'touched.txt'],
  );

  // What the source's .ferryignore leaves out is left alone on the target, even by --delete.
  const sideways = await ferry(['upload', join(src, 'node_modules'), '-d', '/mirror'], { env });
  t.is(sideways.code, 0, sideways.stderr);

  // Additions, changes (a new size; the same size with other bytes; only a new time), deletions.
  await put(src, 'grows.txt', 'now much longer', NEWER);
  await put(src, 'same-size.txt', 'bbbb', NEWER);
  await utimes(join(src, 'touched.txt'), NEWER, NEWER);
  await put(src, 'sub/new.txt', 'added');
  await rm(join(src, 'gone.txt'));
  await rm(join(src, 'old'), { recursive: true });
  await put(src, 'node_modules/dep/more.js', 'still excluded');

  const args = ['sync', src, ':/mirror', '--delete', '--exclude', '*.log'];
  const plan = await ferry([...args, '--dry-run', '--json'], { env });
  t.is(plan.code, 0, plan.stderr);
  const planned = jsonData(plan.stdout) as SyncJson;
  t.deepEqual(
    planned.actions.map((action) => `${action.action} ${action.path}${action.reason ? ` (${action.reason})` : ''}`),
    [
      'delete gone.txt',
      'delete old',
      'send grows.txt (size differs)',
      'send same-size.txt (content differs)',
      'send sub/new.txt (new)',
      'time touched.txt',
    ],
  );
  t.is(planned.skipped, 2); // keep.txt and .ferryignore
  const human = await ferry([...args, '--dry-run'], { env });
  t.regex(human.stdout, /^delete {2}old\/$/m);
  t.regex(human.stdout, /^send {4}sub\/new\.txt \(5 B, new\)$/m);
  t.regex(human.stdout, /dry run: would send 3 files .* set 1 time, skip 2, delete 2; nothing was changed/);
  const untouched = await ferry(['stat', '/mirror/gone.txt'], { env });
  t.is(untouched.code, 0, 'a dry run changes nothing');

  const uploadedBefore = await bytesMoved(server, 'upload');
  const run = await ferry([...args, '--json'], { env });
  t.is(run.code, 0, run.stderr);
  const done = jsonData(run.stdout) as SyncJson;
  t.deepEqual(done.actions, planned.actions, 'the run does what the dry run said');
  t.deepEqual({ files: done.sent.files, timesSet: done.timesSet, skipped: done.skipped, deleted: done.deleted }, { files: 3, timesSet: 1, skipped: 2, deleted: 2 });
  const expectedBytes = 'now much longer'.length + 'bbbb'.length + 'added'.length;
  t.is(done.sent.bytes, expectedBytes);
  t.is((await bytesMoved(server, 'upload')) - uploadedBefore, expectedBytes, 'only the changed files moved');

  // The target is now the source, less the excludes; times followed.
  const back = await tempDir(t, 'ferry-sync-back-');
  const down = await ferry(['download', '/mirror', '-d', back], { env });
  t.is(down.code, 0, down.stderr);
  t.deepEqual(await localTree(join(back, 'mirror')), {
    '.ferryignore': 'node_modules/\n',
    'grows.txt': 'now much longer',
    'keep.txt': 'unchanged',
    'node_modules/dep/index.js': 'excluded by .ferryignore',
    'same-size.txt': 'bbbb',
    'sub/new.txt': 'added',
    'touched.txt': 'same bytes',
  });
  t.is(Math.floor((await stat(join(back, 'mirror', 'touched.txt'))).mtimeMs / 1000), NEWER);

  // Nothing changed: nothing moves.
  const again = await ferry([...args], { env });
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /sent 0 files \(0 B\), set 0 times, skipped 6, deleted 0/);
  t.is((await bytesMoved(server, 'upload')) - uploadedBefore, expectedBytes, 'a second sync sends 0 file bytes');

  // And the other way: a local mirror of the remote folder, then a second run moving nothing.
  const mirror = await tempDir(t, 'ferry-sync-mirror-');
  await put(mirror, 'stale.txt', 'not in the source');
  const pull = await ferry(['sync', ':/mirror', mirror, '--delete'], { env });
  t.is(pull.code, 0, pull.stderr);
  t.deepEqual(await localTree(mirror), await localTree(join(back, 'mirror')));
  t.is(Math.floor((await stat(join(mirror, 'grows.txt'))).mtimeMs / 1000), NEWER);
  const downloadedBefore = await bytesMoved(server, 'download');
  const pullAgain = await ferry(['sync', ':/mirror', mirror, '--delete'], { env });
  t.is(pullAgain.code, 0, pullAgain.stderr);
  t.regex(pullAgain.stdout, /sent 0 files/);
  t.is(await bytesMoved(server, 'download'), downloadedBefore, 'a second sync from the server receives 0 file bytes');
});

for (const backend of BACKENDS) {
  test(`${backend}: a second sync of an unchanged tree sends nothing and sets no times, whichever way`, async (t) => {
    const server = await startServer(t, { backend });
    const src = await tempDir(t, 'ferry-sync-src-');
    for (let i = 0; i < 12; i++) await put(src, `d${i % 3}/f${i}.txt`, `file ${i}`, OLD + i);
    const up = await ferry(['sync', src, ':/m', '--json'], { env: server.env });
    t.is(up.code, 0, up.stderr);
    t.is((jsonData(up.stdout) as SyncJson).sent.files, 12);
    const upAgain = jsonData((await ferry(['sync', src, ':/m', '--json'], { env: server.env })).stdout) as SyncJson;
    t.deepEqual({ sent: upAgain.sent, timesSet: upAgain.timesSet, skipped: upAgain.skipped }, { sent: { files: 0, bytes: 0 }, timesSet: 0, skipped: 12 });
    const dest = await tempDir(t, 'ferry-sync-dest-');
    t.is((await ferry(['sync', ':/m', dest], { env: server.env })).code, 0);
    // A part file of an interrupted download is no file of the mirror: neither deleted nor sent.
    await put(dest, 'd0/.f0.txt.ferry-part', 'fi');
    const downAgain = jsonData((await ferry(['sync', ':/m', dest, '--delete', '--json'], { env: server.env })).stdout) as SyncJson;
    t.is(await readFile(join(dest, 'd0', '.f0.txt.ferry-part'), 'utf8'), 'fi');
    t.is(downAgain.deleted, 0);
    t.deepEqual({ sent: downAgain.sent, timesSet: downAgain.timesSet, skipped: downAgain.skipped }, { sent: { files: 0, bytes: 0 }, timesSet: 0, skipped: 12 });
    t.is(Math.floor((await stat(join(dest, 'd1', 'f4.txt'))).mtimeMs / 1000), OLD + 4);
  });
}

test('--checksum finds a file changed behind an unchanged size and time; a file-folder conflict waits for --delete', async (t) => {
  const server = await startServer(t);
  const src = await tempDir(t, 'ferry-sync-src-');
  await put(src, 'same.txt', 'aaaa');
  await put(src, 'shape', 'a file here');
  t.is((await ferry(['sync', src, ':/c'], { env: server.env })).code, 0);
  await put(src, 'same.txt', 'bbbb'); // Same size, and the same time again.
  await rm(join(src, 'shape'));
  await put(src, 'shape/inner.txt', 'a folder now');
  const plain = jsonData((await ferry(['sync', src, ':/c', '--dry-run', '--json'], { env: server.env })).stdout) as SyncJson;
  t.deepEqual(plain.actions, []);
  const conflict = await ferry(['sync', src, ':/c'], { env: server.env });
  t.is(conflict.code, 8, 'some of it could not be done');
  t.regex(conflict.stderr, /shape is a folder in the source but a file in the target; sync with --delete to replace it/);
  const checked = await ferry(['sync', src, ':/c', '--checksum', '--delete', '--json'], { env: server.env });
  t.is(checked.code, 0, checked.stderr);
  const done = jsonData(checked.stdout) as SyncJson;
  t.deepEqual(
    done.actions.map((action) => `${action.action} ${action.path}`),
    ['delete shape', 'send same.txt', 'send shape/inner.txt'],
  );
  t.is((await server.stored.read('c/same.txt'))?.toString(), 'bbbb');
  t.is((await server.stored.read('c/shape/inner.txt'))?.toString(), 'a folder now');
});

test('sync refuses two local or two remote sides with a usage error naming the colon', async (t) => {
  const both = await ferry(['sync', 'a', 'b'], { env: { FERRY_SERVER: '127.0.0.1:1' } });
  t.is(both.code, 2);
  t.regex(both.stderr, /leading colon/);
});
