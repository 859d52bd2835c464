import test from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { FerryError } from '../../src/protocol/errors.js';
import { formatRemotePath, isNameable, joinRemote, MAX_NAME_BYTES, MAX_PATH_BYTES, parseRemotePath, remoteBaseName } from '../../src/protocol/paths.js';
import { ferryCodeOf, holds } from './property.js';

const HOME = '/srv/ferry/home/alice';
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Parses, or returns the FerryError code the parser refused with. */
function tryParse(input: string): string[] | { refused: string } {
  try {
    return parseRemotePath(input);
  } catch (error) {
    if (error instanceof FerryError) return { refused: error.code };
    throw error;
  }
}

/** What a storage backend would do with the segments: join them under the home. */
const resolveUnderHome = (segments: readonly string[]) => posix.resolve(HOME, ...segments);
const staysInside = (location: string) => location === HOME || location.startsWith(`${HOME}/`);

function assertSafeSegments(input: string, segments: readonly string[]): void {
  for (const segment of segments) {
    assert.ok(!['', '.', '..'].includes(segment), `${JSON.stringify(input)} gave the segment ${JSON.stringify(segment)}`);
    assert.ok(!/[/\\\u0000]/.test(segment), `${JSON.stringify(segment)} holds a separator or NUL`);
    assert.ok(!CONTROL.test(segment), `${JSON.stringify(segment)} holds a control character`);
    assert.ok(segment.isWellFormed(), `${JSON.stringify(segment)} is not well-formed Unicode`);
    assert.ok(Buffer.byteLength(segment) <= MAX_NAME_BYTES, `${JSON.stringify(segment)} is longer than a name may be`);
  }
  assert.ok(staysInside(resolveUnderHome(segments)), `${JSON.stringify(input)} resolved outside the home`);
}

// Strings built from the pieces path attacks are made of, so the interesting cases come up often.
const pathPiece = fc.oneof(
  fc.constantFrom('/', '//', '.', '..', '...', '\\', '\u0000', '\u0001', '\u001b', '\u007f', '\u0085', '\u009f', '\ud800', '\udfff', '%2e', '%2f', '~', ':', ' ', 'é', '😀'),
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
);
const pathLike = fc.oneof(fc.array(pathPiece, { maxLength: 12 }).map((pieces) => pieces.join('')), fc.string({ unit: 'binary' }));

test('any string is either refused with BAD_PATH or parsed into safe segments that re-parse identically from their canonical form', (t) => {
  holds(
    t,
    fc.property(pathLike, (input) => {
      const parsed = tryParse(input);
      if (!Array.isArray(parsed)) {
        assert.deepEqual(parsed, { refused: 'BAD_PATH' });
        return true;
      }
      assertSafeSegments(input, parsed);
      const canonical = formatRemotePath(parsed);
      assert.ok(canonical.startsWith('/'));
      assert.deepEqual(parseRemotePath(canonical), parsed);
      assert.equal(formatRemotePath(parseRemotePath(canonical)), canonical);
      return true;
    }),
    { numRuns: 2000 },
  );
});

/** Hostile spellings, each with the segments it must give, or 'refused' when it must be refused. */
const HOSTILE: [string, string[] | 'refused' | 'inside'][] = [
  ['..', 'refused'],
  ['../etc/passwd', 'refused'],
  ['a/../../b', 'refused'],
  ['a/..', 'refused'],
  ['./..', 'refused'],
  ['/..', 'refused'],
  ['/../x', 'refused'],
  ['/./../', 'refused'],
  ['x/y/../../..', 'refused'],
  ['..\\x', 'refused'],
  ['a\\..\\b', 'refused'],
  ['C:\\Windows\\system32', 'refused'],
  ['\\\\server\\share', 'refused'],
  ['x\u0000y', 'refused'],
  ['x/\u0000', 'refused'],
  ['\u0001', 'refused'],
  ['a/\u007f', 'refused'],
  ['a\nb', 'refused'],
  ['a\rb', 'refused'],
  ['tab\there', 'refused'],
  ['esc\u001b[31m', 'refused'],
  ['c1\u0085next-line', 'refused'],
  ['c1\u009f', 'refused'],
  ['\ud800', 'refused'],
  ['a/\udc00/b', 'refused'],
  ['pair-reversed\udc00\ud800', 'refused'],
  ['a'.repeat(MAX_NAME_BYTES + 1), 'refused'],
  ['é'.repeat(128), 'refused'], // 256 bytes in UTF-8 from 128 characters
  [`ok/${'b'.repeat(MAX_NAME_BYTES + 1)}/ok`, 'refused'],
  ['a/'.repeat(MAX_PATH_BYTES / 2 + 1), 'refused'],
  ['/'.repeat(MAX_PATH_BYTES + 1), 'refused'],
  // Percent-encoding is not decoded: these are literal names inside the home.
  ['%2e%2e', ['%2e%2e']],
  ['%2e%2e/%2e%2e/etc/passwd', ['%2e%2e', '%2e%2e', 'etc', 'passwd']],
  ['%2e%2e%2fetc%2fpasswd', ['%2e%2e%2fetc%2fpasswd']],
  ['..%2f..%2fetc', ['..%2f..%2fetc']],
  ['%252e%252e', ['%252e%252e']],
  ['%5c..%5c', ['%5c..%5c']],
  ['...', ['...']],
  ['..../x', ['....', 'x']],
  ['\uff0e\uff0e/etc', ['\uff0e\uff0e', 'etc']], // fullwidth full stops
  ['\u2025', ['\u2025']], // two dot leader
  ['~/x', ['~', 'x']],
  ['~root', ['~root']],
  ['file:///etc/passwd', ['file:', 'etc', 'passwd']],
  ['C:/Windows', ['C:', 'Windows']],
  ['/etc/passwd', ['etc', 'passwd']],
  ['//etc//passwd//', ['etc', 'passwd']],
  ['a/./b/.', ['a', 'b']],
  ['x/😀', ['x', '😀']],
  ['a'.repeat(MAX_NAME_BYTES), ['a'.repeat(MAX_NAME_BYTES)]],
  // Not control characters, so either answer is safe; they must not escape.
  ['.. ', 'inside'],
  [' ..', 'inside'],
  ['..\u200b', 'inside'],
  ['\u202e..', 'refused'],
];

test('hostile paths are refused with BAD_PATH or resolve to literal names inside the home', (t) => {
  t.true(HOSTILE.length >= 30);
  for (const [input, expected] of HOSTILE) {
    const label = JSON.stringify(input.length > 60 ? `${input.slice(0, 60)}…(${input.length})` : input);
    const parsed = tryParse(input);
    if (expected === 'refused') {
      t.deepEqual(parsed, { refused: 'BAD_PATH' }, label);
      continue;
    }
    if (!Array.isArray(parsed)) {
      t.fail(`${label} was refused with ${parsed.refused}`);
      continue;
    }
    if (expected !== 'inside') t.deepEqual(parsed, expected, label);
    t.notThrows(() => assertSafeSegments(input, parsed), label);
  }
});

test('a path of exactly the maximum length is accepted', (t) => {
  const input = `/${'a/'.repeat(MAX_PATH_BYTES / 2 - 1)}b`;
  t.is(Buffer.byteLength(input), MAX_PATH_BYTES);
  t.is(parseRemotePath(input).length, MAX_PATH_BYTES / 2);
});

test('a leading "/" means the home, and the home itself parses to no segments', (t) => {
  for (const home of ['', '/', '.', './', '/.', '//', '/./.']) t.deepEqual(parseRemotePath(home), [], JSON.stringify(home));
  t.deepEqual(parseRemotePath('/docs/report.pdf'), ['docs', 'report.pdf']);
  t.deepEqual(parseRemotePath('/docs/report.pdf'), parseRemotePath('docs/report.pdf'));
  t.is(formatRemotePath([]), '/');
  t.is(formatRemotePath(['docs', 'report.pdf']), '/docs/report.pdf');
});

test('joinRemote puts exactly one "/" between the pieces and skips empty ones', (t) => {
  t.is(joinRemote('/in', 'photo.jpg'), '/in/photo.jpg');
  t.is(joinRemote('/in/', '/photo.jpg'), '/in/photo.jpg');
  t.is(joinRemote('/', 'photo.jpg'), '/photo.jpg');
  t.is(joinRemote('', 'photo.jpg'), 'photo.jpg');
  t.is(joinRemote('a', '', 'b'), 'a/b');
  t.is(joinRemote('a//b', 'c'), 'a/b/c');
  t.is(joinRemote(), '');
});

test('joining two valid remote paths gives the segments of the first followed by those of the second', (t) => {
  const validPath = pathLike.filter((p) => Array.isArray(tryParse(p)));
  holds(
    t,
    fc.property(validPath, validPath, (first, second) => {
      assert.deepEqual(parseRemotePath(joinRemote(first, second)), [...parseRemotePath(first), ...parseRemotePath(second)]);
      return true;
    }),
  );
});

test('remoteBaseName gives the last segment, or "" for the home', (t) => {
  t.is(remoteBaseName('/docs/report.pdf'), 'report.pdf');
  t.is(remoteBaseName('docs/'), 'docs');
  t.is(remoteBaseName('docs/.'), 'docs');
  t.is(remoteBaseName('report.pdf'), 'report.pdf');
  t.is(remoteBaseName('/'), '');
  t.is(remoteBaseName(''), '');
  t.is(remoteBaseName('.'), '');
});

test('for any valid remote path, remoteBaseName agrees with the last parsed segment', (t) => {
  holds(
    t,
    fc.property(
      pathLike.filter((p) => Array.isArray(tryParse(p))),
      (input) => {
        assert.equal(remoteBaseName(input), parseRemotePath(input).at(-1) ?? '');
        return true;
      },
    ),
  );
});

const DECEPTIVE_CHARS = ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u2028', '\u2029'];
/** Names the parser accepts as one segment: printable, no separators, no deceptive characters. */
const plainName = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 20 })
  .filter((name) => !/[/\\\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/.test(name) && name !== '.' && name !== '..');

test('a name with a bidirectional override, embedding or isolate, or a line or paragraph separator, is refused as BAD_PATH wherever the character sits', (t) => {
  holds(
    t,
    fc.property(plainName, fc.constantFrom(...DECEPTIVE_CHARS), fc.nat(), fc.string({ maxLength: 6 }), (name, deceptive, at, folder) => {
      assert.deepEqual(tryParse(name), [name]);
      const position = at % (name.length + 1);
      const spoofed = name.slice(0, position) + deceptive + name.slice(position);
      assert.deepEqual(tryParse(spoofed), { refused: 'BAD_PATH' });
      assert.deepEqual(tryParse(`${folder}/${spoofed}/x`), { refused: 'BAD_PATH' });
      assert.equal(ferryCodeOf(() => parseRemotePath(`/${spoofed}`)), 'BAD_PATH');
    }),
  );
});

test('the classic right-to-left override spoof "invoice\\u202Efdp.exe" is refused with a message that says why', (t) => {
  const error = t.throws(() => parseRemotePath('docs/invoice\u202efdp.exe'), { instanceOf: FerryError });
  t.is(error?.code, 'BAD_PATH');
  t.regex(error?.message ?? '', /bidirectional-override or line-separator/);
  for (const char of ['\u200e', '\u200f', '\u061c']) t.deepEqual(tryParse(`mark${char}s`), [`mark${char}s`], 'directional marks that cannot reorder text stay allowed');
});

test('names are not normalised: the NFC and NFD spellings of a name parse to two different segments, each byte for byte as sent', (t) => {
  holds(
    t,
    fc.property(plainName, (name) => {
      const nfc = name.normalize('NFC');
      const nfd = name.normalize('NFD');
      assert.deepEqual(tryParse(nfc), [nfc]);
      assert.deepEqual(tryParse(nfd), [nfd]);
      assert.equal(Buffer.compare(Buffer.from(parseRemotePath(nfd)[0] as string), Buffer.from(nfd)), 0);
      if (nfc !== nfd) assert.notDeepEqual(parseRemotePath(nfc), parseRemotePath(nfd));
    }),
  );
  t.notDeepEqual(parseRemotePath('caf\u00e9'), parseRemotePath('cafe\u0301'));
});

test('isNameable accepts exactly the single names a request could use, so listings never show a name no request can reach', (t) => {
  holds(
    t,
    fc.property(fc.oneof(plainName, pathLike), (name) => {
      const parsed = tryParse(name);
      assert.equal(isNameable(name), Array.isArray(parsed) && parsed.length === 1 && parsed[0] === name);
    }),
  );
  t.false(isNameable('a\u202eb'));
  t.false(isNameable('a\u2028b'));
  t.true(isNameable('caf\u00e9'));
});
