import test from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { parseRemotePath } from '../../src/protocol/paths.js';
import { homeRoot, objectKey, relativeSegments } from '../../src/storage/s3/keys.js';
import { holds } from './property.js';

// Remote paths as the server receives them: parsed and checked segments.
const segment = fc.oneof(fc.constantFrom('a', 'ab', 'a b', '..a', '.hidden', 'é', '😀', '%2f', 'files', 'uploads'), fc.string({ minLength: 1, maxLength: 6 }));
const remotePath = fc
  .array(segment, { maxLength: 5 })
  .map((segments) => {
    try {
      return parseRemotePath(`/${segments.join('/')}`);
    } catch {
      return undefined;
    }
  })
  .filter((path): path is string[] => path !== undefined);
const prefix = fc.constantFrom('', 'ferry/', 'a/b/');

test('every path of a home maps to a key under that home and back to the same path', (t) => {
  holds(
    t,
    fc.property(prefix, remotePath, remotePath.filter((path) => path.length > 0), (keyPrefix, home, path) => {
      const root = homeRoot(`${keyPrefix}files/`, home);
      const key = objectKey(root, path);
      assert.ok(key.startsWith(root));
      assert.deepEqual(relativeSegments(key, root), path);
      return true;
    }),
  );
});

test("no key of one home lies under another home's prefix unless that home contains it", (t) => {
  holds(
    t,
    fc.property(remotePath, remotePath, remotePath.filter((path) => path.length > 0), (first, second, path) => {
      const key = objectKey(homeRoot('files/', first), path);
      const contains = second.length < first.length + path.length && second.every((segment, index) => [...first, ...path][index] === segment);
      assert.equal(key.startsWith(homeRoot('files/', second)), contains);
      return true;
    }),
  );
});

test('listed keys that no checked path can name are left out', (t) => {
  t.is(relativeSegments('files/a//b', 'files/'), undefined);
  t.is(relativeSegments('files/a/../b', 'files/'), undefined);
  t.is(relativeSegments('files/./b', 'files/'), undefined);
  t.is(relativeSegments('files/', 'files/'), undefined, "the folder's own marker");
  t.deepEqual(relativeSegments('files/a/b/', 'files/'), ['a', 'b'], 'a folder marker names its folder');
});
