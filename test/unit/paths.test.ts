import test from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { FerryError } from '../../src/protocol/errors.js';
import { formatRemotePath, joinRemote, MAX_NAME_BYTES, MAX_PATH_BYTES, parseRemotePath, remoteBaseName } from '../../src/protocol/paths.js';
import { holds } from './property.js';

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
  ['\u202e..', 'inside'],
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
