/**
 * The scp-style forms of upload, download and mv: a last argument that is not a
 * source is the destination, "into" when it ends with a separator or names an
 * existing folder, else the one source's new name; several sources into a name
 * that is no folder are refused before anything moves.
 */

import test from 'ava';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startServer } from '../helpers/server.js';

test('upload old.txt /photos/ puts the file inside /photos, and a last argument naming an existing remote folder does too', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  await writeFile(join(local, 'old.txt'), 'old');
  await writeFile(join(local, 'new.txt'), 'new');

  const slash = await ferry(['upload', 'old.txt', '/photos/'], { env: server.env, cwd: local });
  t.is(slash.code, 0, slash.stderr);
  t.regex(slash.stdout, /^uploaded old\.txt -> \/photos\/old\.txt \(3 B\)$/m);

  const existing = await ferry(['upload', 'new.txt', 'photos'], { env: server.env, cwd: local });
  t.is(existing.code, 0, existing.stderr);
  t.regex(existing.stdout, /^uploaded new\.txt -> \/photos\/new\.txt \(3 B\)$/m);
  const names = (await (await server.connect()).list('/', { recursive: true })).map((entry) => entry.name).sort();
  t.deepEqual(names, ['photos', 'photos/new.txt', 'photos/old.txt'], 'nothing landed beside /photos');
});

test('upload of one file to a name that is neither local nor a remote folder stores it under that name, as scp does', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  await writeFile(join(local, 'draft.txt'), 'draft');
  const result = await ferry(['upload', 'draft.txt', '/final.txt'], { env: server.env, cwd: local });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^uploaded draft\.txt -> \/final\.txt \(5 B\)$/m);
  t.is(await server.stored.sha256('draft.txt'), undefined);
  t.truthy(await server.stored.sha256('final.txt'));
});

test('several files to a last name that is no folder are refused before anything is sent, naming -d', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  await writeFile(join(local, 'a.txt'), 'a');
  await writeFile(join(local, 'b.txt'), 'b');
  const result = await ferry(['upload', 'a.txt', 'b.txt', '/nowhere'], { env: server.env, cwd: local });
  t.is(result.code, 2, result.stderr);
  t.regex(result.stderr, /"\/nowhere" is neither a local file or folder nor a remote folder/);
  t.regex(result.stderr, /end it with "\/".*or use -d \/nowhere; nothing was transferred/);
  t.deepEqual(await (await server.connect()).list('/'), [], 'nothing was uploaded');
});

test('files that all exist locally are still all uploaded to the home, as before the scp forms', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  await writeFile(join(local, 'a.txt'), 'a');
  await writeFile(join(local, 'b.txt'), 'b');
  const result = await ferry(['upload', 'a.txt', 'b.txt'], { env: server.env, cwd: local });
  t.is(result.code, 0, result.stderr);
  t.deepEqual((await (await server.connect()).list('/')).map((entry) => entry.name).sort(), ['a.txt', 'b.txt']);
});

test('download /photos/a.jpg x.jpg saves it as x.jpg; a last argument ending in / or naming a local folder receives the files inside', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  await server.stored.writeRandom('photos/a.jpg', 1000);
  await server.stored.writeRandom('photos/b.jpg', 2000);

  const renamed = await ferry(['download', '/photos/a.jpg', 'x.jpg'], { env: server.env, cwd: local });
  t.is(renamed.code, 0, renamed.stderr);
  t.regex(renamed.stdout, /^downloaded \/photos\/a\.jpg -> x\.jpg \(1000 B\)$/m);
  t.deepEqual(await readdir(local), ['x.jpg'], 'nothing else was written into the current folder');

  const slash = await ferry(['download', '/photos/a.jpg', '/photos/b.jpg', 'new folder/'], { env: server.env, cwd: local });
  t.is(slash.code, 0, slash.stderr);
  t.deepEqual((await readdir(join(local, 'new folder'))).sort(), ['a.jpg', 'b.jpg']);

  await mkdir(join(local, 'album'));
  const folder = await ferry(['download', '/photos/b.jpg', 'album'], { env: server.env, cwd: local });
  t.is(folder.code, 0, folder.stderr);
  t.deepEqual(await readdir(join(local, 'album')), ['b.jpg']);
});

test('several remote files to a last name that is no local folder are refused before anything is downloaded', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  await server.stored.writeRandom('a.bin', 10);
  await server.stored.writeRandom('b.bin', 10);
  const result = await ferry(['download', '/a.bin', '/b.bin', 'target'], { env: server.env, cwd: local });
  t.is(result.code, 2, result.stderr);
  t.regex(result.stderr, /"target" is neither a remote file or folder nor a local folder.*use -d target; nothing was transferred/);
  t.deepEqual(await readdir(local), []);
});

test('mv file /photos/ and mv file /photos (an existing folder) move the file inside it, as mv does', async (t) => {
  const server = await startServer(t);
  const client = await server.connect();
  await client.mkdir('/photos');
  await server.stored.writeRandom('one.jpg', 10);
  await server.stored.writeRandom('two.jpg', 10);

  const slash = await ferry(['mv', '/one.jpg', '/photos/'], { env: server.env });
  t.is(slash.code, 0, slash.stderr);
  t.regex(slash.stdout, /^moved \/one\.jpg -> \/photos\/one\.jpg$/m);
  const bare = await ferry(['mv', 'two.jpg', 'photos'], { env: server.env });
  t.is(bare.code, 0, bare.stderr);
  t.regex(bare.stdout, /^moved \/two\.jpg -> \/photos\/two\.jpg$/m);
  t.deepEqual((await client.list('/photos')).map((entry) => entry.name).sort(), ['one.jpg', 'two.jpg']);
  t.deepEqual((await client.list('/')).map((entry) => entry.name), ['photos']);
  t.is(await readFile(join(server.filesDir, 'photos', 'one.jpg')).then((data) => data.length), 10);
});
