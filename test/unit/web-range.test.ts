/**
 * Range headers of web downloads: every single byte range a client can ask for
 * maps to the bytes RFC 9110 says, and what cannot be served is told apart from
 * what is served whole.
 */

import test from 'ava';
import fc from 'fast-check';
import { strict as assert } from 'node:assert';
import { parseRange } from '../../src/web/files-routes.js';
import { holds } from './property.js';

test('bytes=a-b, a- and -n select the bytes a file of that size has, or are unsatisfiable', (t) => {
  holds(
    t,
    fc.property(fc.nat(10_000), fc.nat(12_000), fc.option(fc.nat(12_000)), (size, first, last) => {
      const range = parseRange(`bytes=${first}-${last ?? ''}`, size);
      if (first >= size || (last !== null && last < first)) {
        assert.equal(range, null);
        return;
      }
      assert.deepEqual(range, { start: first, end: Math.min(last ?? size - 1, size - 1) });
    }),
  );
  holds(
    t,
    fc.property(fc.nat(10_000), fc.nat(12_000), (size, suffix) => {
      const range = parseRange(`bytes=-${suffix}`, size);
      if (suffix === 0 || size === 0) assert.equal(range, null);
      else assert.deepEqual(range, { start: Math.max(0, size - suffix), end: size - 1 });
    }),
  );
});

test('no Range, several ranges, another unit or a malformed header get the whole file', (t) => {
  for (const header of [undefined, 'bytes=0-1,5-6', 'items=0-3', 'bytes=-', 'bytes=a-b', 'bytes 0-3', '']) {
    t.is(parseRange(header, 100), undefined, String(header));
  }
});
