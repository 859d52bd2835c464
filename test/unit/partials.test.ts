import test from 'ava';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { tempDir } from '../helpers/files.js';
import { LedgerBooks } from '../../src/storage/ledger.js';
import { bootId, PartialUploads } from '../../src/storage/local/partials.js';

async function partials(t: Parameters<typeof tempDir>[0]): Promise<PartialUploads> {
  const books = new LedgerBooks(async () => ({ bytes: 0, entries: 0 }));
  const made = new PartialUploads(await tempDir(t), books.as('test'));
  await made.open();
  return made;
}

test('a partial is offered whole within the boot that wrote it, and only to its last checkpoint after a reboot', async (t) => {
  const store = await partials(t);
  const key = store.key('u', '/', '/big.bin', 10 * 1024 * 1024);
  await writeFile(store.dataPath(key), randomBytes(3 * 1024 * 1024));
  t.is((await store.status(key)).offset, 3 * 1024 * 1024, 'no record: the page cache of this boot holds it all');
  await store.checkpoint(key, 1024 * 1024);
  t.is((await store.status(key)).offset, 3 * 1024 * 1024, 'checkpointed in this boot: still all of it');
  await writeFile(store.recordPath(key), JSON.stringify({ length: 1024 * 1024, boot: `not ${await bootId()}` }));
  const afterReboot = await store.status(key);
  t.is(afterReboot.offset, 1024 * 1024, 'after a reboot: the checkpointed bytes only');
  t.is(afterReboot.prefixSha256, (await store.prefixHash(key, 1024 * 1024)).digest('hex'));
  await writeFile(store.recordPath(key), '{"length": 20');
  t.is((await store.status(key)).offset, 0, 'a record torn by the crash vouches for nothing');
  await store.forget(key);
  t.is((await store.status(key)).offset, 3 * 1024 * 1024);
});

test('a checkpoint record left without its partial is swept', async (t) => {
  const store = await partials(t);
  const key = store.key('u', '/', '/gone.bin', 1);
  await store.checkpoint(key, 1);
  await store.sweep(60_000);
  t.is(await store.record(key), undefined);
});
