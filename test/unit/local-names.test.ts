import test from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { localNameProblem } from '../../src/client/local-names.js';
import { holds } from './property.js';

const RESERVED = ['CON', 'con', 'Con', 'PRN', 'AUX', 'NUL', 'nul.txt', 'NUL.tar.gz', 'COM1', 'com9', 'COM¹', 'LPT1', 'LPT9.log', 'lpt³.txt', 'aux.c'];
const FORBIDDEN = ['a<b', 'a>b', 'a:b', 'say "hi"', 'a|b', 'why?', 'star*', 'back\\slash', 'tab\there', 'nul\u0000byte', 'bell\u0007', 'esc\u001b'];
const TRAILING = ['report.', 'report ', 'folder...', 'name. ', ' '];
const FINE = ['report.pdf', 'CONSOLE', 'com10', 'lpt', 'nul_', 'xcon', 'con_t.txt', '.env', '.hidden', 'a.b.c', 'Trip photos 2026', 'é😀', 'COM', 'LPT0x'];

test('Windows reserved device names are reported on win32, with or without an extension and in any case', (t) => {
  for (const name of RESERVED) t.regex(localNameProblem(name, 'win32') ?? '', /reserved/, name);
});

test('characters Windows forbids in names are reported on win32', (t) => {
  for (const name of FORBIDDEN) t.truthy(localNameProblem(name, 'win32'), JSON.stringify(name));
});

test('a name ending in a dot or a space is reported on win32', (t) => {
  for (const name of TRAILING) t.regex(localNameProblem(name, 'win32') ?? '', /dot or space/, JSON.stringify(name));
});

test('ordinary names, including ones that only start like a device name, are accepted on win32', (t) => {
  for (const name of FINE) t.is(localNameProblem(name, 'win32'), undefined, name);
});

test('no name is ever reported on Linux or macOS', (t) => {
  for (const name of [...RESERVED, ...FORBIDDEN, ...TRAILING, ...FINE]) {
    t.is(localNameProblem(name, 'linux'), undefined, JSON.stringify(name));
    t.is(localNameProblem(name, 'darwin'), undefined, JSON.stringify(name));
  }
  holds(
    t,
    fc.property(fc.string({ unit: 'binary' }), (name) => {
      assert.equal(localNameProblem(name, 'linux'), undefined);
      assert.equal(localNameProblem(name, 'darwin'), undefined);
      return true;
    }),
  );
});

const DEVICES = ['con', 'prn', 'aux', 'nul', ...[...'0123456789¹²³'].flatMap((d) => [`com${d}`, `lpt${d}`])];
const isDevice = (name: string) => DEVICES.includes((name.split('.')[0] ?? '').toLowerCase());

test('on win32, any name free of forbidden characters, a trailing dot or space and device names is accepted', (t) => {
  // Every character Windows allows except the forbidden ones, including dots, spaces and non-ASCII.
  const allowed = fc.oneof(
    fc.constantFrom('.', ' ', '-', '_', '~', "'", '%', '$', 'é', 'ß', '中', '😀'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => !/[<>:"|?*\\/\u0000-\u001f]/.test(c)),
  );
  const name = fc
    .string({ unit: allowed, minLength: 1, maxLength: 20 })
    .filter((n) => !/[. ]$/.test(n) && !isDevice(n));
  holds(
    t,
    fc.property(name, (n) => {
      assert.equal(localNameProblem(n, 'win32'), undefined, JSON.stringify(n));
      return true;
    }),
    { numRuns: 1000 },
  );
});

test('on win32, any name holding a forbidden character is reported', (t) => {
  holds(
    t,
    fc.property(fc.string(), fc.constantFrom(...'<>:"|?*\\'.split(''), '\u0000', '\u001f', '\n'), fc.string(), (before, bad, after) => {
      assert.notEqual(localNameProblem(`${before}${bad}${after}`, 'win32'), undefined);
      return true;
    }),
  );
});

test('on win32, any device name in any case, bare or followed by any extension, is reported', (t) => {
  holds(
    t,
    fc.property(fc.mixedCase(fc.constantFrom(...DEVICES)), fc.string({ unit: 'grapheme-ascii', maxLength: 8 }), (device, extension) => {
      assert.notEqual(localNameProblem(device, 'win32'), undefined, device);
      assert.notEqual(localNameProblem(`${device}.${extension}`, 'win32'), undefined, `${device}.${extension}`);
      return true;
    }),
  );
});
