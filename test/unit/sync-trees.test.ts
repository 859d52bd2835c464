import test from 'ava';
import type { FerryClient } from '../../src/client/client.js';
import { Excludes } from '../../src/client/excludes.js';
import { scanRemote } from '../../src/client/sync-trees.js';
import type { Entry } from '../../src/protocol/messages.js';

/** A server that lists whatever names it likes (a hostile or broken one). */
function serverListing(names: string[]): FerryClient {
  const entries: Entry[] = names.map((name) => ({ name, type: 'file', size: 1, mtime: 0 }));
  return {
    stat: async () => ({ name: 'top', type: 'dir', size: 0, mtime: 0 }),
    list: async () => entries,
  } as unknown as FerryClient;
}

test('a remote listing gives a sync only plain relative names: climbing, absolute and odd names are left out and reported', async (t) => {
  const hostile = ['../escape.txt', 'a/../../b.txt', '/etc/passwd', 'x//y', './dot', 'sub/.', '', 'nul\u0000byte', 'ok.txt', 'sub/fine.txt'];
  const scanned = await scanRemote(serverListing(hostile), '/top', Excludes.fromPatterns([]));
  t.deepEqual([...scanned.tree.keys()].sort(), ['ok.txt', 'sub/fine.txt']);
  t.is(scanned.failures.length, hostile.length - 2);
  t.true(scanned.failures.every((failure) => failure.error.code === 'BAD_PATH'));
});
