/**
 * The jail against a real temporary tree: every check is made on what was opened,
 * and what happens to the tree afterwards (a folder moved out, a name swapped for a
 * link) cannot turn an action into one outside the home.
 */

import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { link, mkdir, readdir, readFile, realpath, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../../src/protocol/errors.js';
import { canVerifyDescriptors, FolderCache, Jail, type SymlinkPolicy } from '../../src/storage/local/jail/index.js';
import { MAX_DISK_PATH_BYTES, MAX_TREE_DEPTH } from '../../src/storage/tree-limits.js';
import { tempDir } from '../helpers/files.js';

interface Tree {
  home: string;
  outside: string;
  jail: Jail;
}

/** A home with a file, a folder and links in and out, and a folder outside it with a secret. */
async function tree(
  t: ExecutionContext,
  options: { symlinks?: SymlinkPolicy; protect?: (home: string) => string[]; folders?: FolderCache } = {},
): Promise<Tree> {
  const base = await realpath(await tempDir(t, 'ferry-jail-'));
  const home = join(base, 'home');
  const outside = join(base, 'outside');
  await mkdir(join(home, 'docs', 'deep'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(home, 'docs', 'note.txt'), 'inside');
  await writeFile(join(outside, 'note.txt'), 'SECRET outside');
  await symlink('docs', join(home, 'link-in'));
  await symlink(outside, join(home, 'link-out'));
  const verifiable = await canVerifyDescriptors(home);
  t.true(verifiable, 'this Linux host has /proc/self/fd');
  const jail = new Jail({ root: home, protectedPaths: options.protect?.(home) ?? [], symlinks: options.symlinks ?? 'inside', verifiable, folders: options.folders });
  if (options.folders) t.teardown(() => options.folders?.clear());
  return { home, outside, jail };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return error instanceof FerryError ? error.code : `system ${String((error as NodeJS.ErrnoException).code)}`;
  }
  return 'ok';
}

test('a file opened through the jail is read from the descriptor that was checked, and a link inside the home is followed', async (t) => {
  const { jail } = await tree(t);
  for (const path of [['docs', 'note.txt'], ['link-in', 'note.txt']]) {
    const opened = await jail.open(path);
    t.is((await opened.handle.readFile()).toString(), 'inside');
    await opened.handle.close();
  }
});

test('a link that leads outside is refused as BAD_PATH, whether used as a folder or opened itself', async (t) => {
  const { jail } = await tree(t);
  t.is(await codeOf(jail.open(['link-out', 'note.txt'])), 'BAD_PATH');
  t.is(await codeOf(jail.open(['link-out'])), 'BAD_PATH');
  t.is(await codeOf(jail.place(['link-out', 'new.txt'], true)), 'BAD_PATH');
});

test('under the refuse policy no symlink in the home is followed, not even one that stays inside', async (t) => {
  const { jail } = await tree(t, { symlinks: 'refuse' });
  t.is(await codeOf(jail.open(['link-in', 'note.txt'])), 'BAD_PATH');
  const names: string[] = [];
  const folder = await jail.folder([]);
  for await (const entry of jail.entries(folder, [])) names.push(entry.name);
  await folder.close();
  t.deepEqual(names.sort(), ['docs']);
});

test('a folder held open and then moved outside the home is refused at the recheck before any action in it', async (t) => {
  const { home, outside, jail } = await tree(t);
  const place = await jail.place(['docs', 'note.txt']);
  await rename(join(home, 'docs'), join(outside, 'moved'));
  await t.throwsAsync(place.folder.recheck(['docs']), { instanceOf: FerryError, message: /no longer inside your home/ });
  await place.folder.close();
  t.is((await readFile(join(outside, 'moved', 'note.txt'))).toString(), 'inside', 'nothing was done to it');
});

test('a place planned for a new entry makes nothing; building it makes each missing folder inside the folder held open', async (t) => {
  const { home, jail } = await tree(t);
  const planned = await jail.plan(['docs', 'new', 'deeper', 'file.bin']);
  t.deepEqual(planned.missing, ['new', 'deeper']);
  t.deepEqual((await readdir(join(home, 'docs'))).sort(), ['deep', 'note.txt'], 'planning made no folder');
  const place = await jail.build(planned);
  t.is(place.name, 'file.bin');
  t.is(place.folder.real, join(home, 'docs', 'new', 'deeper'));
  await writeFile(place.folder.at(place.name), 'made');
  await place.folder.close();
  t.is((await readFile(join(home, 'docs', 'new', 'deeper', 'file.bin'))).toString(), 'made');
});

test('a planned folder moved outside the home before the build is refused, and no folder is made outside', async (t) => {
  const { home, outside, jail } = await tree(t);
  const planned = await jail.plan(['docs', 'new', 'file.bin']);
  await rename(join(home, 'docs'), join(outside, 'moved'));
  // A link now stands where the folder was: a path string would lead outside too.
  await symlink(join(outside, 'moved'), join(home, 'docs'));
  await t.throwsAsync(jail.build(planned), { instanceOf: FerryError, message: /no longer inside your home/ });
  t.deepEqual((await readdir(join(outside, 'moved'))).sort(), ['deep', 'note.txt'], 'nothing was made outside');
});

test('a name swapped for a link after its folder was opened still resolves in the opened folder, never through the link', async (t) => {
  const { home, outside, jail } = await tree(t);
  const place = await jail.place(['docs', 'deep', 'x.txt'], true);
  // The path string would now lead outside; the open folder does not move.
  await rename(join(home, 'docs'), join(home, 'docs-away'));
  await symlink(outside, join(home, 'docs'));
  await place.folder.recheck(['docs', 'deep']);
  await writeFile(place.folder.at(place.name), 'written through the descriptor');
  await place.folder.close();
  t.deepEqual((await readdir(outside)).sort(), ['note.txt']);
  t.is((await readFile(join(home, 'docs-away', 'deep', 'x.txt'))).toString(), 'written through the descriptor');
});

test('a FIFO, and a socket, are refused at once as BAD_PATH rather than opened for reading', async (t) => {
  const { home, jail } = await tree(t);
  execFileSync('mkfifo', [join(home, 'pipe')]);
  execFileSync('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(join(home, 'sock'))})`]);
  const started = Date.now();
  const codes = await Promise.all(Array.from({ length: 8 }, (_, index) => codeOf(jail.open([index % 2 === 0 ? 'pipe' : 'sock']))));
  t.deepEqual(new Set(codes), new Set(['BAD_PATH']));
  t.true(Date.now() - started < 10_000);
  const folder = await jail.folder([]);
  const names: string[] = [];
  for await (const entry of jail.entries(folder, [])) names.push(entry.name);
  await folder.close();
  t.deepEqual(names.sort(), ['docs', 'link-in'], 'listings leave out special files and links that lead outside');
});

test('protected paths are unreachable from a home that holds them: by name, by listing, and through a hard link', async (t) => {
  const { home, jail } = await tree(t, { protect: (root) => [join(root, 'users.json'), join(root, 'tmp')] });
  await writeFile(join(home, 'users.json'), '{"admin": "hash"}');
  await writeFile(join(home, 'users.json.123.tmp'), '{"admin": "next hash"}');
  await mkdir(join(home, 'tmp'));
  await writeFile(join(home, 'tmp', 'upload.part'), 'in flight');
  await link(join(home, 'users.json'), join(home, 'docs', 'innocent.txt'));
  for (const path of [['users.json'], ['users.json.123.tmp'], ['tmp'], ['tmp', 'upload.part'], ['docs', 'innocent.txt']]) {
    t.is(await codeOf(jail.open(path)), 'NOT_FOUND', path.join('/'));
  }
  t.is(await codeOf(jail.place(['users.json'])), 'BAD_PATH', 'replacing, moving or deleting it is refused');
  t.is(await codeOf(jail.place(['tmp', 'x'], true)), 'NOT_FOUND', 'nothing inside can be reached');
  const names: string[] = [];
  for (const path of [[], ['docs']]) {
    const folder = await jail.folder(path);
    for await (const entry of jail.entries(folder, path)) names.push(entry.name);
    await folder.close();
  }
  t.deepEqual(names.sort(), ['deep', 'docs', 'link-in', 'note.txt']);
});

test('building a path deeper than the tree limit, or longer than the disk path limit, is refused before anything is made', async (t) => {
  const { home, jail } = await tree(t);
  const deep = Array.from({ length: MAX_TREE_DEPTH + 1 }, (_, index) => `d${index}`);
  await t.throwsAsync(jail.place(deep, true), { instanceOf: FerryError, message: /levels deep/ });
  const long = Array.from({ length: Math.ceil(MAX_DISK_PATH_BYTES / 200) }, () => 'n'.repeat(199));
  await t.throwsAsync(jail.place(long, true), { instanceOf: FerryError, message: /past its limit/ });
  t.deepEqual((await readdir(home)).sort(), ['docs', 'link-in', 'link-out']);
  const fits = await jail.place(deep.slice(0, MAX_TREE_DEPTH), true);
  await fits.folder.close();
  t.true((await stat(join(home, ...deep.slice(0, MAX_TREE_DEPTH - 1)))).isDirectory());
});

test('removing a tree unlinks a link inside it without following it, and the extent of a tree counts its levels and longest path', async (t) => {
  const { home, outside, jail } = await tree(t);
  await symlink(outside, join(home, 'docs', 'deep', 'out'));
  await writeFile(join(home, 'docs', 'deep', 'file.txt'), 'x');
  const root = await jail.folder([]);
  t.deepEqual(await jail.extent(root, 'docs', ['docs']), { depth: 2, bytes: Buffer.byteLength('/deep/file.txt') });
  await jail.removeTree(root, 'docs', ['docs']);
  await root.close();
  t.deepEqual((await readdir(home)).sort(), ['link-in', 'link-out']);
  t.deepEqual(await readdir(outside), ['note.txt']);
});

test('where descriptors cannot be verified, no symlink is followed whatever the policy, and a folder replaced at its path is refused at the recheck', async (t) => {
  const { home, outside } = await tree(t);
  const jail = new Jail({ root: home, protectedPaths: [], symlinks: 'inside', verifiable: false });
  const opened = await jail.open(['docs', 'note.txt']);
  t.is((await opened.handle.readFile()).toString(), 'inside');
  await opened.handle.close();
  t.is(await codeOf(jail.open(['link-in', 'note.txt'])), 'BAD_PATH');
  t.is(await codeOf(jail.open(['link-out', 'note.txt'])), 'BAD_PATH');
  const place = await jail.place(['docs', 'x.txt']);
  await rename(join(home, 'docs'), join(home, 'docs-away'));
  await symlink(outside, join(home, 'docs'));
  await t.throwsAsync(place.folder.recheck(['docs']), { instanceOf: FerryError, message: /changed while in use/ });
  await place.folder.close();
});

/** Uses the folder of `path` once and lets it go, so that the cache keeps it open. */
async function visit(jail: Jail, path: string[]): Promise<number> {
  const place = await jail.place(path, true);
  const fd = place.folder.handle.fd;
  await place.folder.close();
  return fd;
}

test('a kept folder is lent again only while its path still names it: moved away and replaced by a link to outside, the path is refused', async (t) => {
  const { home, outside, jail } = await tree(t, { folders: new FolderCache() });
  const kept = await visit(jail, ['docs', 'deep', 'a.txt']);
  t.is(await visit(jail, ['docs', 'deep', 'b.txt']), kept, 'the folder was kept open and lent again');
  await rename(join(home, 'docs'), join(home, 'docs-away'));
  await symlink(outside, join(home, 'docs'));
  t.is(await codeOf(jail.place(['docs', 'deep', 'c.txt'], true)), 'BAD_PATH');
  t.is(await codeOf(jail.open(['docs', 'deep'])), 'BAD_PATH');
  t.is(await codeOf(jail.folder(['docs', 'deep'])), 'BAD_PATH');
  t.deepEqual((await readdir(outside)).sort(), ['note.txt'], 'nothing was made outside');
});

test('a kept folder moved within the home, or deleted and made again, is not used for its old path: the folder now there is', async (t) => {
  const { home, jail } = await tree(t, { folders: new FolderCache() });
  await visit(jail, ['docs', 'deep', 'a.txt']);
  await rename(join(home, 'docs', 'deep'), join(home, 'docs', 'moved'));
  await mkdir(join(home, 'docs', 'deep'));
  let place = await jail.place(['docs', 'deep', 'b.txt'], true);
  await writeFile(place.folder.at(place.name), 'new folder');
  await place.folder.close();
  t.deepEqual(await readdir(join(home, 'docs', 'deep')), ['b.txt']);
  t.deepEqual(await readdir(join(home, 'docs', 'moved')), [], 'the moved folder got nothing');
  await rm(join(home, 'docs', 'deep'), { recursive: true });
  await mkdir(join(home, 'docs', 'deep'));
  place = await jail.place(['docs', 'deep', 'c.txt'], true);
  t.is(place.folder.real, join(home, 'docs', 'deep'));
  await writeFile(place.folder.at(place.name), 'made again');
  await place.folder.close();
  t.deepEqual(await readdir(join(home, 'docs', 'deep')), ['c.txt']);
  await rm(join(home, 'docs', 'deep'), { recursive: true });
  t.is(await codeOf(jail.folder(['docs', 'deep'])), 'NOT_FOUND', 'a deleted folder is not found through its kept descriptor');
});

test('a folder reached through a link inside the home is not kept under the link path, and a protected folder is never lent, however often asked', async (t) => {
  const folders = new FolderCache();
  const { home, jail } = await tree(t, { folders, protect: (root) => [join(root, 'docs', 'deep')] });
  const viaLink = await jail.place(['link-in', 'x.txt'], true);
  t.is(viaLink.folder.real, join(home, 'docs'));
  await viaLink.folder.close();
  t.is(folders.lease(join(home, 'link-in')), undefined, 'nothing kept under the link path');
  for (let round = 0; round < 2; round++) t.is(await codeOf(jail.place(['docs', 'deep', 'y.txt'], true)), 'NOT_FOUND', `round ${round}`);
  t.is(await codeOf(jail.folder(['docs', 'deep'])), 'NOT_FOUND');
});

test('the folder cache lends one descriptor to requests at once, closes a dropped one only after its last lease, and keeps at most its capacity', async (t) => {
  const folders = new FolderCache(1, 60_000);
  const { home, jail } = await tree(t, { folders });
  await visit(jail, ['docs', 'a.txt']);
  const [first, second] = await Promise.all([jail.place(['docs', 'b.txt']), jail.place(['docs', 'c.txt'])]);
  t.is(first.folder.handle, second.folder.handle, 'one descriptor lent twice');
  folders.clear();
  await writeFile(first.folder.at('b.txt'), 'still open while lent');
  await first.folder.close();
  await second.folder.close();
  await first.folder.close(); // A second close must not end another lease or close the descriptor twice.
  t.is((await readFile(join(home, 'docs', 'b.txt'))).toString(), 'still open while lent');
  await visit(jail, ['docs', 'a.txt']);
  await visit(jail, ['docs', 'deep', 'a.txt']);
  t.is(folders.lease(join(home, 'docs')), undefined, 'the older folder made room');
  const lease = folders.lease(join(home, 'docs', 'deep'));
  t.truthy(lease);
  lease?.release();
});
