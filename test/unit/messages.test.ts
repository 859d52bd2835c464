import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { ERROR_CODES, FerryError } from '../../src/protocol/errors.js';
import { parseErrorMessage, parseHello, parseRequest, parseWelcome, type Request } from '../../src/protocol/messages.js';
import { holds } from './property.js';

const OPS = ['login', 'put', 'putStream', 'resume', 'get', 'list', 'stat', 'delete', 'rename', 'mkdir', 'touch', 'quit'] as const;
/** Fields a parsed request carries only when the sender gave them. */
const OPTIONAL_FIELDS: Partial<Record<Request['op'], string[]>> = { put: ['mtime'] };

function badRequest(t: ExecutionContext, value: unknown, label = JSON.stringify(value)): void {
  const error = t.throws(() => parseRequest(value), { instanceOf: FerryError }, label);
  t.is(error?.code, 'BAD_REQUEST', label);
}

/** Checks a parsed request field by field, so a wrongly typed value cannot slip through. */
function assertWellFormed(request: Request): void {
  const isCount = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  const shape: Record<Request['op'], Record<string, (v: unknown) => boolean>> = {
    login: { user: (v) => typeof v === 'string', password: (v) => typeof v === 'string' },
    put: {
      path: (v) => typeof v === 'string',
      size: isCount,
      noClobber: (v) => typeof v === 'boolean',
      resumable: (v) => typeof v === 'boolean',
      offset: isCount,
      prefixSha256: (v) => typeof v === 'string',
      mtime: (v) => isCount(v) && (v as number) <= 8.64e15,
    },
    putStream: { path: (v) => typeof v === 'string', noClobber: (v) => typeof v === 'boolean' },
    resume: { path: (v) => typeof v === 'string', size: isCount },
    get: { path: (v) => typeof v === 'string', offset: isCount },
    list: { path: (v) => typeof v === 'string', recursive: (v) => typeof v === 'boolean' },
    stat: { path: (v) => typeof v === 'string', download: (v) => typeof v === 'boolean' },
    delete: { path: (v) => typeof v === 'string', recursive: (v) => typeof v === 'boolean' },
    rename: { from: (v) => typeof v === 'string', to: (v) => typeof v === 'string', noClobber: (v) => typeof v === 'boolean' },
    mkdir: { path: (v) => typeof v === 'string' },
    touch: { path: (v) => typeof v === 'string', mtime: (v) => isCount(v) && (v as number) <= 8.64e15 },
    quit: {},
  };
  assert.ok(OPS.includes(request.op), `unknown op ${String(request.op)}`);
  const fields = shape[request.op];
  const optional = OPTIONAL_FIELDS[request.op] ?? [];
  const present = Object.keys(fields).filter((key) => !optional.includes(key) || key in request);
  assert.deepEqual(Object.keys(request).sort(), ['op', ...present].sort());
  for (const [key, valid] of Object.entries(fields).filter(([key]) => present.includes(key))) {
    assert.ok(valid((request as Record<string, unknown>)[key]), `${request.op}.${key} = ${JSON.stringify((request as Record<string, unknown>)[key])}`);
  }
}

test('each operation parses with its optional fields filled in with defaults', (t) => {
  t.deepEqual(parseRequest({ op: 'login', user: 'alice', password: 'pw' }), { op: 'login', user: 'alice', password: 'pw' });
  const putDefaults = { noClobber: false, resumable: false, offset: 0, prefixSha256: '' };
  t.deepEqual(parseRequest({ op: 'put', path: '/a', size: 10 }), { op: 'put', path: '/a', size: 10, ...putDefaults });
  t.deepEqual(parseRequest({ op: 'putStream', path: '/a' }), { op: 'putStream', path: '/a', noClobber: false });
  t.deepEqual(parseRequest({ op: 'resume', path: '/a', size: 10 }), { op: 'resume', path: '/a', size: 10 });
  t.deepEqual(parseRequest({ op: 'get', path: '/a' }), { op: 'get', path: '/a', offset: 0 });
  t.deepEqual(parseRequest({ op: 'list', path: '/' }), { op: 'list', path: '/', recursive: false });
  t.deepEqual(parseRequest({ op: 'stat', path: '/a' }), { op: 'stat', path: '/a', download: false });
  t.deepEqual(parseRequest({ op: 'stat', path: '/a', download: true }), { op: 'stat', path: '/a', download: true });
  t.deepEqual(parseRequest({ op: 'delete', path: '/a' }), { op: 'delete', path: '/a', recursive: false });
  t.deepEqual(parseRequest({ op: 'rename', from: '/a', to: '/b' }), { op: 'rename', from: '/a', to: '/b', noClobber: false });
  t.deepEqual(parseRequest({ op: 'mkdir', path: '/d' }), { op: 'mkdir', path: '/d' });
  t.deepEqual(parseRequest({ op: 'quit' }), { op: 'quit' });
  t.deepEqual(parseRequest({ op: 'touch', path: '/a', mtime: 1_700_000_000_000 }), { op: 'touch', path: '/a', mtime: 1_700_000_000_000 });
});

test("a put carries the file's modification time only when the sender gave one, and it must be a whole number", (t) => {
  t.false('mtime' in parseRequest({ op: 'put', path: '/a', size: 1 }));
  t.is((parseRequest({ op: 'put', path: '/a', size: 1, mtime: 1_700_000_000_123 }) as { mtime?: number }).mtime, 1_700_000_000_123);
  for (const mtime of [-1, 1.5, '1700000000000', null, true]) badRequest(t, { op: 'put', path: '/a', size: 1, mtime }, `mtime ${String(mtime)}`);
  badRequest(t, { op: 'touch', path: '/a' });
  badRequest(t, { op: 'touch', path: '/a', mtime: -5 });
  badRequest(t, { op: 'touch', path: '/a', mtime: 8.64e15 + 1 });
});

test('explicit optional fields are kept and unknown fields are dropped', (t) => {
  t.deepEqual(parseRequest({ op: 'put', path: '/a', size: 0, noClobber: true, mode: 0o777 }), { op: 'put', path: '/a', size: 0, noClobber: true, resumable: false, offset: 0, prefixSha256: '' });
  t.deepEqual(parseRequest({ op: 'get', path: '/a', offset: 4096 }), { op: 'get', path: '/a', offset: 4096 });
  t.deepEqual(parseRequest({ op: 'list', path: '/', recursive: true }), { op: 'list', path: '/', recursive: true });
  t.deepEqual(parseRequest({ op: 'delete', path: '/a', recursive: true }), { op: 'delete', path: '/a', recursive: true });
  t.deepEqual(parseRequest({ op: 'rename', from: '/a', to: '/b', noClobber: true }), { op: 'rename', from: '/a', to: '/b', noClobber: true });
  t.deepEqual(parseRequest({ op: 'quit', path: '/etc' }), { op: 'quit' });
  t.deepEqual(parseRequest({ op: 'put', path: '/big', size: Number.MAX_SAFE_INTEGER }), {
    op: 'put',
    path: '/big',
    size: Number.MAX_SAFE_INTEGER,
    noClobber: false,
    resumable: false,
    offset: 0,
    prefixSha256: '',
  });
});

test('a request that is not an object, or names no known operation, is refused with BAD_REQUEST', (t) => {
  for (const value of [null, undefined, 1, 'put', true, [], [{ op: 'quit' }]]) badRequest(t, value);
  for (const op of [undefined, null, '', 'PUT', 'Quit', 'upload', 'exec', 'toString', '__proto__', 'constructor', 1, ['quit'], { op: 'quit' }]) {
    badRequest(t, { op, path: '/a' }, `op ${JSON.stringify(op)}`);
  }
});

test('sizes and offsets that are negative, fractional, unsafe or not numbers are refused with BAD_REQUEST', (t) => {
  for (const size of [-1, 1.5, 0.1, Number.MAX_SAFE_INTEGER + 1, Infinity, NaN, '10', null, undefined, true, [1], { n: 1 }]) {
    badRequest(t, { op: 'put', path: '/a', size }, `size ${String(size)}`);
  }
  for (const offset of [-1, 2.5, '0', true, Infinity]) badRequest(t, { op: 'get', path: '/a', offset }, `offset ${String(offset)}`);
});

test('strings and flags of the wrong type are refused with BAD_REQUEST', (t) => {
  badRequest(t, { op: 'login', user: 'alice' });
  badRequest(t, { op: 'login', user: 7, password: 'pw' });
  badRequest(t, { op: 'login', user: 'alice', password: null });
  badRequest(t, { op: 'stat' });
  badRequest(t, { op: 'stat', path: ['/a'] });
  badRequest(t, { op: 'stat', path: '/a', download: 'yes' });
  badRequest(t, { op: 'mkdir', path: 1 });
  badRequest(t, { op: 'put', path: '/a', size: 1, noClobber: 'yes' });
  badRequest(t, { op: 'list', path: '/', recursive: 1 });
  badRequest(t, { op: 'delete', path: '/', recursive: 'true' });
  badRequest(t, { op: 'rename', from: '/a' });
  badRequest(t, { op: 'rename', from: '/a', to: '/b', noClobber: 0 });
});

test('any JSON value either parses to a well-formed request of a known operation or is refused with BAD_REQUEST', (t) => {
  // Objects with a real op and loosely typed fields reach every field check; plain JSON covers the rest.
  const loose = fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.integer({ min: -3, max: 1e6 }), fc.double(), fc.string(), fc.boolean());
  const requestLike = fc.record(
    {
      op: fc.oneof(fc.constantFrom(...OPS), fc.string()),
      user: loose,
      password: loose,
      path: loose,
      from: loose,
      to: loose,
      size: loose,
      offset: loose,
      noClobber: loose,
      recursive: loose,
      mtime: loose,
    },
    { requiredKeys: ['op'] },
  );
  holds(
    t,
    fc.property(fc.oneof(fc.jsonValue(), requestLike), (value) => {
      let request: Request;
      try {
        request = parseRequest(value);
      } catch (error) {
        if (!(error instanceof FerryError)) throw error;
        assert.equal(error.code, 'BAD_REQUEST');
        return true;
      }
      assertWellFormed(request);
      return true;
    }),
    { numRuns: 1000 },
  );
});

test('an ERROR message keeps a known code and its message', (t) => {
  t.deepEqual(parseErrorMessage({ code: 'NOT_FOUND', message: '/a does not exist' }), { code: 'NOT_FOUND', message: '/a does not exist' });
  t.deepEqual(parseErrorMessage({ code: 'QUOTA_EXCEEDED' }), { code: 'QUOTA_EXCEEDED', message: ERROR_CODES.QUOTA_EXCEEDED });
});

test('an ERROR message with an unknown or missing code becomes INTERNAL', (t) => {
  for (const code of ['NOPE', '', 'not_found', 'toString', '__proto__', 'constructor', 'hasOwnProperty', 42, null, undefined, ['NOT_FOUND']]) {
    const parsed = parseErrorMessage({ code, message: 'the disk caught fire' });
    t.deepEqual(parsed, { code: 'INTERNAL', message: 'the disk caught fire' }, `code ${JSON.stringify(code)}`);
  }
  t.deepEqual(parseErrorMessage({ code: 'NOPE', message: 7 }), { code: 'INTERNAL', message: ERROR_CODES.INTERNAL });
});

test('an ERROR message that is not an object is refused with BAD_REQUEST', (t) => {
  for (const value of [null, 'NOT_FOUND', 3, []]) {
    const error = t.throws(() => parseErrorMessage(value), { instanceOf: FerryError });
    t.is(error?.code, 'BAD_REQUEST', JSON.stringify(value));
  }
});

const hello = { protocol: 'ferry', version: 1, capabilities: ['pipelining', 'no-clobber'], agent: 'ferry-cli/0.1.0' };

test('a HELLO parses to its four fields and nothing else', (t) => {
  t.deepEqual(parseHello({ ...hello, extra: true }), hello);
  t.deepEqual(parseHello({ ...hello, capabilities: [] }), { ...hello, capabilities: [] });
});

test('a HELLO with missing or wrongly typed fields is refused with BAD_REQUEST', (t) => {
  const broken: unknown[] = [
    null,
    [],
    'ferry/1',
    { ...hello, capabilities: undefined },
    { ...hello, capabilities: 'pipelining' },
    { ...hello, capabilities: ['pipelining', 1] },
    { ...hello, protocol: 1 },
    { ...hello, version: -1 },
    { ...hello, version: 1.5 },
    { ...hello, version: '1' },
    { ...hello, agent: undefined },
  ];
  for (const value of broken) {
    const error = t.throws(() => parseHello(value), { instanceOf: FerryError });
    t.is(error?.code, 'BAD_REQUEST', JSON.stringify(value));
  }
});

test('a WELCOME is a HELLO plus the largest frame the server accepts', (t) => {
  t.deepEqual(parseWelcome({ ...hello, maxFrameBytes: 4194304 }), { ...hello, maxFrameBytes: 4194304 });
  for (const maxFrameBytes of [undefined, -1, 1.5, '4194304']) {
    const error = t.throws(() => parseWelcome({ ...hello, maxFrameBytes }), { instanceOf: FerryError });
    t.is(error?.code, 'BAD_REQUEST', `maxFrameBytes ${String(maxFrameBytes)}`);
  }
  const error = t.throws(() => parseWelcome({ maxFrameBytes: 4194304 }), { instanceOf: FerryError });
  t.is(error?.code, 'BAD_REQUEST');
});
