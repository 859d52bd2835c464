import test from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { posix, win32 } from 'node:path';
import { localNameProblem } from '../../src/client/local-names.js';
import { localPathInside, receivedName, receivedRelativePath, receivedStatName } from '../../src/client/received-names.js';
import { ferryCodeOf, holds } from './property.js';

/** Names built mostly from the characters that make paths climb, jump or change drive. */
const tricky = fc.string({ unit: fc.constantFrom('.', '/', '\\', ':', 'C', 'a', 'é', ' ', '\u0000', '\n'), maxLength: 16 });
const anyName = fc.oneof(tricky, fc.string({ unit: 'binary', maxLength: 24 }));
/** A segment a real server can send. */
const segment = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((s) => {
  try {
    return receivedRelativePath(s).length === 1;
  } catch {
    return false;
  }
});

const PLATFORMS = [
  { platform: 'linux' as const, path: posix, dest: '/home/me/downloads' },
  { platform: 'win32' as const, path: win32, dest: 'C:\\Users\\me\\Downloads' },
];

function strictlyInside(path: typeof posix, dest: string, local: string): boolean {
  const rel = path.relative(dest, local);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

test('the names of the attack are refused as unsafe', (t) => {
  for (const name of ['../../x', 'sub/../../y', '/etc/z', 'C:\\w', '..', '.', '', 'a//b', './a', 'a/', 'a\u0000b', 'x\\..\\..\\y']) {
    t.is(ferryCodeOf(() => receivedRelativePath(name)), 'UNSAFE_NAME', JSON.stringify(name));
  }
});

test('any name the server sends is either refused, or lands strictly inside the destination on Linux and on Windows', (t) => {
  holds(
    t,
    fc.property(anyName, (name) => {
      let segments: string[];
      try {
        segments = receivedRelativePath(name);
      } catch {
        assert.equal(ferryCodeOf(() => receivedRelativePath(name)), 'UNSAFE_NAME');
        return true;
      }
      assert.ok(segments.every((s) => s !== '' && s !== '.' && s !== '..' && !s.includes('/') && !s.includes('\\')));
      for (const { platform, path, dest } of PLATFORMS) {
        try {
          const local = localPathInside(dest, segments, platform);
          assert.ok(strictlyInside(path, dest, local), `${platform}: ${local}`);
        } catch {
          assert.equal(ferryCodeOf(() => localPathInside(dest, segments, platform)), 'UNSAFE_NAME');
        }
      }
      return true;
    }),
    { numRuns: 2000 },
  );
});

test('every path a real server can send maps to the same folders below the destination, one local name per remote one', (t) => {
  holds(
    t,
    fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (segments) => {
      const name = segments.join('/');
      assert.deepEqual(receivedRelativePath(name), segments);
      assert.equal(localPathInside('/dest', segments, 'linux'), posix.join('/dest', ...segments));
      if (segments.every((s) => localNameProblem(s, 'win32') === undefined)) {
        const local = localPathInside('C:\\dest', segments, 'win32');
        assert.equal(win32.relative('C:\\dest', local).split('\\').length, segments.length);
      }
      return true;
    }),
  );
});

test('a one-folder listing takes single names only; a stat answer also the home "/"', (t) => {
  t.is(receivedName('report.pdf'), 'report.pdf');
  t.is(ferryCodeOf(() => receivedName('a/b')), 'UNSAFE_NAME');
  t.is(receivedStatName('/'), '/');
  t.is(ferryCodeOf(() => receivedStatName('../passwd')), 'UNSAFE_NAME');
  holds(
    t,
    fc.property(anyName, (name) => {
      try {
        assert.equal(receivedName(name), name);
        assert.ok(!name.includes('/'));
      } catch {
        assert.equal(ferryCodeOf(() => receivedName(name)), 'UNSAFE_NAME');
      }
      return true;
    }),
  );
});
