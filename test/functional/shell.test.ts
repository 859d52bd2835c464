import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startServer } from '../helpers/server.js';

test('the shell runs a session of commands over one connection, with a remote working folder', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  const back = await tempDir(t);
  await writeFile(join(local, 'hello world.txt'), 'hello from the shell');
  const script = [
    'mkdir inbox',
    'cd inbox',
    'pwd',
    `upload "${join(local, 'hello world.txt')}"`,
    'ls',
    'mv "hello world.txt" renamed.txt',
    'stat renamed.txt',
    `download renamed.txt -d "${back}"`,
    'cd /',
    'rm -r inbox',
    'ls',
    'exit',
  ].join('\n');
  const result = await ferry(['shell'], { env: server.env, input: `${script}\n` });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^\/inbox$/m, 'pwd shows the remote folder');
  t.regex(result.stdout, /uploaded .*hello world\.txt -> \/inbox\/hello world\.txt/);
  t.regex(result.stdout, /moved \/inbox\/hello world\.txt -> \/inbox\/renamed\.txt/);
  t.regex(result.stdout, /size: {3}20 bytes/);
  t.is(await readFile(join(back, 'renamed.txt'), 'utf8'), 'hello from the shell');
  t.deepEqual(await (await server.connect()).list('/'), [], 'rm -r removed the folder');
});

test('a bad shell command prints help and the session goes on', async (t) => {
  const server = await startServer(t);
  const result = await ferry(['shell'], { env: server.env, input: 'frobnicate\nstat /missing\nmkdir ok\nexit\n' });
  t.is(result.code, 0);
  t.regex(result.stderr, /unknown command "frobnicate"/);
  t.regex(result.stdout, /commands \(remote paths are relative to the current folder\)/);
  t.regex(result.stderr, /\/missing does not exist/);
  t.regex(result.stdout, /created \/ok/);
});

test('the shell refuses a wrong password before starting the session', async (t) => {
  const server = await startServer(t);
  const result = await ferry(['shell'], { env: { ...server.env, FERRY_PASSWORD: 'nope' }, input: 'ls\n' });
  t.is(result.code, 3);
});

test('in the shell the scp forms and mv into a folder work relative to the remote and local working folders', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  await writeFile(join(local, 'memo.txt'), 'memo');
  const script = [`lcd "${local}"`, 'mkdir /work/inbox', 'cd /work', 'upload memo.txt inbox/', 'mv inbox/memo.txt /work', 'download memo.txt copy.txt', 'lls', 'exit'].join('\n');
  const result = await ferry(['shell'], { env: server.env, input: `${script}\n` });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^uploaded memo\.txt -> \/work\/inbox\/memo\.txt \(4 B\)$/m);
  t.regex(result.stdout, /^moved \/work\/inbox\/memo\.txt -> \/work\/memo\.txt$/m);
  t.regex(result.stdout, /^downloaded \/work\/memo\.txt -> copy\.txt \(4 B\)$/m);
  t.regex(result.stdout, /^- +4 B +\S+ \S+ +copy\.txt$/m, 'lls lists the download');
  t.is(await readFile(join(local, 'copy.txt'), 'utf8'), 'memo');
});
