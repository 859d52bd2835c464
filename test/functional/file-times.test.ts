import test from 'ava';
import { mkdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ferry, jsonData } from '../helpers/cli.js';
import { randomFile, tempDir } from '../helpers/files.js';
import { READER, startServer } from '../helpers/server.js';
import { FerryError } from '../../src/protocol/errors.js';
import { BACKENDS } from '../helpers/stored.js';

const FILE_TIME = Date.parse('2020-02-02T02:02:02.500Z');
const NESTED_TIME = Date.parse('2019-07-14T12:00:00.000Z');
const FOLDER_TIME = Date.parse('2018-03-01T08:30:00.000Z');

const seconds = (ms: number): number => Math.floor(ms / 1000);

for (const backend of BACKENDS) {
  test(`${backend}: file times round-trip to the second: upload keeps them, ls and stat show them, download sets them`, async (t) => {
    const server = await startServer(t, { backend });
    const local = await tempDir(t);
    const back = await tempDir(t);
    const tree = join(local, 'album');
    await mkdir(join(tree, 'inner'), { recursive: true });
    await writeFile(join(tree, 'photo.jpg'), 'not really a photo');
    await writeFile(join(tree, 'inner', 'nested.txt'), 'nested');
    // Large enough for a resumable upload, and on S3 for a multipart one (the time goes another way there).
    await randomFile(join(tree, 'video.bin'), 6 * 1024 * 1024);
    await utimes(join(tree, 'video.bin'), FILE_TIME / 1000, FILE_TIME / 1000);
    await utimes(join(tree, 'photo.jpg'), FILE_TIME / 1000, FILE_TIME / 1000);
    await utimes(join(tree, 'inner', 'nested.txt'), NESTED_TIME / 1000, NESTED_TIME / 1000);
    await utimes(join(tree, 'inner'), FOLDER_TIME / 1000, FOLDER_TIME / 1000);

    const up = await ferry(['upload', tree], { env: server.env });
    t.is(up.code, 0, up.stderr);
    // On disk the file itself has the time (S3's own LastModified cannot be set: the time is in the metadata).
    if (backend === 'local') t.is(seconds(await server.stored.mtime('album/photo.jpg')), seconds(FILE_TIME));

    const statOut = await ferry(['stat', '/album/photo.jpg', '--json'], { env: server.env });
    t.is(statOut.code, 0, statOut.stderr);
    t.is(seconds((jsonData(statOut.stdout) as { mtime: number }).mtime), seconds(FILE_TIME));
    const large = await ferry(['stat', '/album/video.bin', '--json'], { env: server.env });
    t.is(seconds((jsonData(large.stdout) as { mtime: number }).mtime), seconds(FILE_TIME));
    const human = await ferry(['stat', '/album/photo.jpg'], { env: server.env });
    t.regex(human.stdout, /mtime:\s+2020-02-02T02:02:02/);

    const listing = await ferry(['ls', '/album/inner', '--json'], { env: server.env });
    const entries = jsonData(listing.stdout) as { name: string; mtime: number }[];
    t.is(seconds(entries.find((entry) => entry.name === 'nested.txt')?.mtime ?? 0), seconds(NESTED_TIME));

    const down = await ferry(['download', '/album', '-d', back], { env: server.env });
    t.is(down.code, 0, down.stderr);
    t.is(seconds((await stat(join(back, 'album', 'photo.jpg'))).mtimeMs), seconds(FILE_TIME));
    t.is(seconds((await stat(join(back, 'album', 'inner', 'nested.txt'))).mtimeMs), seconds(NESTED_TIME));
    t.is(seconds((await stat(join(back, 'album', 'video.bin'))).mtimeMs), seconds(FILE_TIME));
    if (backend === 'local') {
      // Folders keep their times too, set after their contents (an object store keeps none for folders).
      const remoteFolder = await ferry(['stat', '/album/inner', '--json'], { env: server.env });
      t.is(seconds((jsonData(remoteFolder.stdout) as { mtime: number }).mtime), seconds(FOLDER_TIME));
      t.is(seconds((await stat(join(back, 'album', 'inner'))).mtimeMs), seconds(FOLDER_TIME));
    }
  });
}

test('an upload without a time (an older client) is stored with the time of the upload', async (t) => {
  const server = await startServer(t);
  const client = await server.connect();
  const before = Date.now();
  const data = Buffer.from('from an older client');
  await client.upload('/old.txt', { size: data.length, open: () => Readable.from([data]) });
  const entry = await client.stat('/old.txt');
  t.true(entry.mtime >= before - 2000, `mtime ${entry.mtime} is the upload's time`);
});

for (const backend of BACKENDS) {
  test(`${backend}: setting a time needs the write permission, stays inside the home, and names a file that exists`, async (t) => {
    const server = await startServer(t, { backend });
    const admin = await server.connect();
    await admin.upload('/f.txt', { size: 1, open: () => Readable.from([Buffer.from('x')]) });
    const reader = await server.connect(READER);
    await t.throwsAsync(reader.touch('/f.txt', FILE_TIME), { instanceOf: FerryError, message: /write/ });
    const escapes = await t.throwsAsync(admin.touch('/../outside', FILE_TIME), { instanceOf: FerryError });
    t.is(escapes?.code, 'BAD_PATH');
    const missing = await t.throwsAsync(admin.touch('/nothing-here', FILE_TIME), { instanceOf: FerryError });
    t.is(missing?.code, 'NOT_FOUND');
    await admin.touch('/f.txt', FILE_TIME);
    const entry = await admin.stat('/f.txt');
    t.is(entry.mtime, FILE_TIME);
    t.is(entry.sha256, '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881', 'the bytes and their digest stay');
  });
}
