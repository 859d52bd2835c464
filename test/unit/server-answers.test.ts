import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { FerryClient } from '../../src/client/client.js';
import { FerryError } from '../../src/protocol/errors.js';
import { parseEntries, parseEntry, parseGetHeader, parseLoginResult, parsePutResult, parseResumeStatus, type Entry } from '../../src/protocol/messages.js';
import { startRogueServer } from '../helpers/rogue-server.js';
import { loopbackAddress } from '../helpers/tls.js';
import { holds } from './property.js';

const GOOD: Entry = { name: 'f.txt', type: 'file', size: 3, mtime: 1_700_000_000_000 };

/** Answers no Ferry server gives, each a way a cast would have let through. */
const GARBAGE_ENTRIES: unknown[] = [
  'a string',
  null,
  [GOOD],
  { ...GOOD, name: 7 },
  { ...GOOD, type: 'symlink' },
  { ...GOOD, size: -1 },
  { ...GOOD, size: '3' },
  { ...GOOD, size: 2 ** 60 },
  { ...GOOD, mtime: 'yesterday' },
  { ...GOOD, mtime: 1.5 },
  { ...GOOD, sha256: 'not hex' },
  { name: 'f.txt' },
];

function notUnderstood(t: ExecutionContext, error: unknown, label: string): void {
  t.true(error instanceof FerryError, label);
  t.is((error as FerryError).code, 'BAD_FRAME', label);
  t.regex((error as FerryError).message, /the server sent .* that Ferry does not understand/, label);
}

test('a rogue server answering stat and list with garbage gets a BAD_FRAME that says so, and the connection stays usable', async (t) => {
  let answer: unknown = GOOD;
  const rogue = await startRogueServer(t, { stat: () => answer, list: () => answer });
  const client = await FerryClient.connect(loopbackAddress(rogue.port, rogue.fingerprint));
  t.teardown(() => client.close());
  await client.login('victim', 'pw');
  for (const garbage of GARBAGE_ENTRIES) {
    const label = JSON.stringify(garbage);
    answer = garbage;
    notUnderstood(t, await client.stat('/f.txt').catch((error: unknown) => error), `stat: ${label}`);
    answer = [GOOD, garbage];
    notUnderstood(t, await client.list('/').catch((error: unknown) => error), `list: ${label}`);
  }
  answer = { not: 'a list' };
  notUnderstood(t, await client.list('/').catch((error: unknown) => error), 'a listing that is not a list');
  // Each garbled answer failed its own request only: the same connection still works.
  answer = GOOD;
  t.deepEqual(await client.stat('/f.txt'), GOOD);
  answer = [GOOD];
  t.deepEqual(await client.list('/'), [GOOD]);
});

test('a well-formed answer reads back as exactly the fields the protocol names', (t) => {
  t.deepEqual(parseEntry({ ...GOOD, sha256: 'ab'.repeat(32), extra: 'dropped' }), { ...GOOD, sha256: 'ab'.repeat(32) });
  t.deepEqual(parseEntry({ ...GOOD, mtime: -86_400_000 }), { ...GOOD, mtime: -86_400_000 }, 'a file older than 1970');
  t.deepEqual(parseEntries([]), []);
  t.deepEqual(parseLoginResult({ user: 'u', home: '/', permissions: ['read', 'fly'] }), { user: 'u', home: '/', permissions: ['read'] });
  t.deepEqual(parsePutResult({ path: '/a', size: 1, sha256: 'cd'.repeat(32), offset: 0 }), { path: '/a', size: 1, sha256: 'cd'.repeat(32), offset: 0 });
  t.deepEqual(parseResumeStatus({ offset: 0, prefixSha256: 'ef'.repeat(32) }), { offset: 0, prefixSha256: 'ef'.repeat(32) });
  t.deepEqual(parseGetHeader({ size: 9, offset: 2, mtime: 0 }), { size: 9, offset: 2, mtime: 0 });
});

test('any JSON value as an answer is read or refused with BAD_FRAME, never passed on half-checked nor failing another way', (t) => {
  const parsers = [parseEntry, parseEntries, parseLoginResult, parsePutResult, parseResumeStatus, parseGetHeader];
  holds(
    t,
    fc.property(fc.jsonValue(), fc.constantFrom(...parsers), (value, parse) => {
      try {
        parse(value as never);
      } catch (error) {
        assert.ok(error instanceof FerryError);
        assert.equal(error.code, 'BAD_FRAME');
      }
    }),
  );
});
