import test from 'ava';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry, jsonData } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startServer } from '../helpers/server.js';

interface TransferJson {
  ok: boolean;
  files: { remote: string; local: string; skipped?: boolean }[];
  bytes: number;
}

async function put(root: string, path: string, content: string): Promise<void> {
  const file = join(root, ...path.split('/'));
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, content);
}

test('upload and download of folders with --skip-existing leave out files with the same size and SHA-256 and send the rest', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  const tree = join(local, 'docs');
  await put(tree, 'same.txt', 'unchanged');
  await put(tree, 'edited.txt', 'version 1');
  const first = await ferry(['upload', tree], { env: server.env });
  t.is(first.code, 0, first.stderr);

  await put(tree, 'edited.txt', 'version 2'); // Same size, other bytes: the digest tells.
  await put(tree, 'added.txt', 'new file');
  const up = await ferry(['upload', tree, '--skip-existing', '--json'], { env: server.env });
  t.is(up.code, 0, up.stderr);
  const sent = jsonData(up.stdout) as TransferJson;
  const skipped = (report: TransferJson): string[] => report.files.filter((file) => file.skipped).map((file) => file.remote).sort();
  t.deepEqual(skipped(sent), ['/docs/same.txt']);
  t.is(sent.bytes, 'version 2'.length + 'new file'.length);
  t.is((await server.stored.read('docs/edited.txt'))?.toString(), 'version 2');

  const back = await tempDir(t);
  t.is((await ferry(['download', '/docs', '-d', back], { env: server.env })).code, 0);
  await put(join(back, 'docs'), 'edited.txt', 'local edit');
  const down = await ferry(['download', '/docs', '-d', back, '--skip-existing', '--json'], { env: server.env });
  t.is(down.code, 0, down.stderr);
  const received = jsonData(down.stdout) as TransferJson;
  t.deepEqual(skipped(received), ['/docs/added.txt', '/docs/same.txt']);
  t.is(await readFile(join(back, 'docs', 'edited.txt'), 'utf8'), 'version 2');
  const human = await ferry(['download', '/docs', '-d', back, '--skip-existing'], { env: server.env });
  t.regex(human.stdout, /3 files were already there with the same size and SHA-256: skipped/);
});

test('a folder upload leaves out --exclude patterns and .ferryignore rules', async (t) => {
  const server = await startServer(t);
  const tree = join(await tempDir(t), 'project');
  await put(tree, 'src/main.ts', 'code');
  await put(tree, 'node_modules/dep/index.js', 'dependency');
  await put(tree, '.git/HEAD', 'ref');
  await put(tree, 'notes.tmp', 'scratch');
  await put(tree, '.ferryignore', 'node_modules/\n*.tmp\n');
  const up = await ferry(['upload', tree, '--exclude', '.git'], { env: server.env });
  t.is(up.code, 0, up.stderr);
  t.deepEqual(await server.stored.names('project'), ['.ferryignore', 'src/']);
});

test('local symbolic links are skipped with a notice, and followed with --follow-symlinks without looping', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  const outside = join(local, 'outside');
  await put(outside, 'shared.txt', 'pointed at');
  const tree = join(local, 'tree');
  await put(tree, 'real.txt', 'real');
  await symlink(join(outside, 'shared.txt'), join(tree, 'file-link.txt'));
  await symlink(outside, join(tree, 'dir-link'));
  await symlink(tree, join(tree, 'loop')); // Leads back to the folder being sent.

  const plain = await ferry(['upload', tree, '-d', '/plain'], { env: server.env });
  t.is(plain.code, 0, plain.stderr);
  t.regex(plain.stderr, /file-link\.txt is a symbolic link: skipped \(--follow-symlinks sends what it points to\)/);
  t.deepEqual(await server.stored.names('plain/tree'), ['real.txt']);

  const followed = await ferry(['upload', tree, '-d', '/followed', '--follow-symlinks'], { env: server.env, timeoutMs: 30_000 });
  t.is(followed.code, 0, followed.stderr);
  t.regex(followed.stderr, /loop leads back into a folder being sent: skipped/);
  t.deepEqual(await server.stored.names('followed/tree'), ['dir-link/', 'file-link.txt', 'real.txt']);
  t.is((await server.stored.read('followed/tree/dir-link/shared.txt'))?.toString(), 'pointed at');
});
