/**
 * Trees stay within the system's limits, and names mean what they show. mkdir,
 * upload and rename refuse to build a path deeper than the server keeps to, so no
 * tree is built that could no longer be listed or deleted; a recursive command
 * that meets such a tree (made by other means) stops and says so. Names with
 * bidirectional overrides or line separators are refused; NFC and NFD spellings
 * are two names, each kept byte for byte. Both backends give the same answers.
 */

import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../../src/protocol/errors.js';
import { MAX_TREE_DEPTH } from '../../src/storage/tree-limits.js';
import { bufferSource, downloadBytes } from '../helpers/buffers.js';
import { startServer } from '../helpers/server.js';
import { BACKENDS } from '../helpers/stored.js';

/** `depth` folders deep, with one-letter names so that the path stays within every store's key length. */
const chain = (depth: number, name = 'l'): string => Array.from({ length: depth }, () => name).join('/');

for (const backend of BACKENDS) {
  test(`${backend}: mkdir, upload and rename refuse to build a tree deeper than ${MAX_TREE_DEPTH} levels, exactly at the limit, and leave nothing behind`, async (t) => {
    t.timeout(120_000);
    const server = await startServer(t, { backend });
    const client = await server.connect();
    const tooDeep = { instanceOf: FerryError, message: /levels deep/ } as const;

    await t.throwsAsync(client.mkdir(chain(MAX_TREE_DEPTH + 1)), tooDeep);
    await t.throwsAsync(client.upload(`${chain(MAX_TREE_DEPTH)}/f.txt`, bufferSource(Buffer.from('x'))), tooDeep);
    t.deepEqual(await client.list('/'), [], 'a refused mkdir or upload made no folders');

    // A folder holding 10 levels, moved to where it would end exactly at the limit, then one deeper.
    await client.upload(`x/${chain(9, 'x')}/f.txt`, bufferSource(Buffer.from('ten levels down')));
    const base = chain(MAX_TREE_DEPTH - 11, 'y');
    await client.mkdir(`${base}/z`);
    await t.throwsAsync(client.rename('x', `${base}/z/x`), tooDeep);
    t.is((await downloadBytes(client, `x/${chain(9, 'x')}/f.txt`)).toString(), 'ten levels down', 'the refused move left the folder where it was');
    await client.rename('x', `${base}/x`);
    t.is((await downloadBytes(client, `${base}/x/${chain(9, 'x')}/f.txt`)).toString(), 'ten levels down');
    t.is((await client.list('/', { recursive: true })).length, MAX_TREE_DEPTH - 11 + 1 + 10 + 1, 'every level lists, down to the file');
    await client.remove(chain(1, 'y'), { recursive: true });
    t.deepEqual(await client.list('/'), []);
    await client.quit();
  });

  test(`${backend}: names with a bidirectional override or a line separator are refused by upload, mkdir and rename`, async (t) => {
    const server = await startServer(t, { backend });
    const client = await server.connect();
    await client.upload('plain.txt', bufferSource(Buffer.from('plain')));
    for (const name of ['invoice\u202efdp.exe', 'a\u2066b', 'two\u2028lines', 'para\u2029graph']) {
      const refused = { instanceOf: FerryError, message: /bidirectional-override or line-separator/ } as const;
      await t.throwsAsync(client.upload(name, bufferSource(Buffer.from('spoof'))), refused, JSON.stringify(name));
      await t.throwsAsync(client.mkdir(`dir/${name}`), refused);
      await t.throwsAsync(client.rename('plain.txt', name), refused);
    }
    t.deepEqual((await client.list('/', { recursive: true })).map((entry) => entry.name), ['plain.txt']);
    await client.quit();
  });

  test(`${backend}: the NFC and NFD spellings of a name are two entries, each listed, fetched and deleted by its own bytes`, async (t) => {
    const server = await startServer(t, { backend });
    const client = await server.connect();
    const nfc = 'caf\u00e9.txt';
    const nfd = 'cafe\u0301.txt';
    t.is(nfc.normalize('NFD'), nfd);
    await client.upload(nfc, bufferSource(Buffer.from('composed')));
    await client.upload(nfd, bufferSource(Buffer.from('decomposed')), { noClobber: true });
    t.deepEqual((await client.list('/')).map((entry) => Buffer.from(entry.name).toString('hex')).sort(), [nfc, nfd].map((name) => Buffer.from(name).toString('hex')).sort());
    t.is((await downloadBytes(client, nfc)).toString(), 'composed');
    t.is((await downloadBytes(client, nfd)).toString(), 'decomposed');
    await client.remove(nfd);
    t.deepEqual((await client.list('/')).map((entry) => entry.name), [nfc]);
    await client.quit();
  });
}

test('local: a tree made deeper than the limit by other means is listed and deleted down to the limit, and both commands say where they stopped', async (t) => {
  t.timeout(120_000);
  const server = await startServer(t);
  const deep = join(server.filesDir, 'deep', ...chain(MAX_TREE_DEPTH + 5).split('/'));
  await mkdir(deep, { recursive: true });
  await writeFile(join(deep, 'bottom.txt'), 'far down');
  const client = await server.connect();
  const stopped = (what: string) => ({ instanceOf: FerryError, message: new RegExp(`${what} stopped at /deep/l/.*deeper than ${MAX_TREE_DEPTH} levels`) });
  await t.throwsAsync(client.list('/', { recursive: true }), stopped('the listing'));
  await t.throwsAsync(client.remove('deep', { recursive: true }), stopped('the removal'));
  await client.quit();
});
