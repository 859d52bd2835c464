/**
 * The server as a second client would meet it: raw frames over a plain TCP socket,
 * built with the protocol's own encoders, against a real in-process server.
 * docs/protocol.md describes every behaviour checked here.
 */

import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import {
  DATA_CHUNK_BYTES,
  FrameType,
  encodeFrame,
  encodeHeader,
  encodeJsonFrame,
  type Frame,
} from '../../src/protocol/frames.js';
import {
  CAPABILITIES,
  PROTOCOL_NAME,
  PROTOCOL_VERSION,
  parseWelcome,
  type Entry,
  type GetHeader,
  type Hello,
  type LoginResult,
  type PutResult,
  type Welcome,
} from '../../src/protocol/messages.js';
import { sha256, sha256Bytes } from '../helpers/files.js';
import { RawConnection, frameName } from '../helpers/raw-connection.js';
import { ADMIN, READER, startServer, type TestServer } from '../helpers/server.js';
import { BACKENDS } from '../helpers/stored.js';

function rawConnect(t: ExecutionContext, server: TestServer): Promise<RawConnection> {
  return RawConnection.open(t, server.port);
}

function json<T>(frame: Frame): T {
  return JSON.parse(frame.payload.toString('utf8')) as T;
}

interface FrameSummary {
  type: string;
  id: number;
  code?: string;
  message?: string;
}

/** A frame in a form that reads well in assertion failures. */
function summary(frame: Frame): FrameSummary {
  const base = { type: frameName(frame.type), id: frame.id };
  if (frame.type !== FrameType.ERROR) return base;
  const { code, message } = json<{ code: string; message: string }>(frame);
  return { ...base, code, message };
}

/** The JSON of the OK frame answering `id`; anything else fails with what arrived instead. */
function okBody<T>(frame: Frame, id: number): T {
  if (frame.type !== FrameType.OK || frame.id !== id) {
    throw new Error(`expected OK for request ${id}, got ${JSON.stringify(summary(frame))}`);
  }
  return json<T>(frame);
}

function hello(overrides: Partial<Record<keyof Hello, unknown>> = {}): Buffer {
  const message = { protocol: PROTOCOL_NAME, version: PROTOCOL_VERSION, capabilities: [...CAPABILITIES], agent: 'raw-test/1', ...overrides };
  return encodeJsonFrame(FrameType.HELLO, 0, message);
}

function request(id: number, message: Record<string, unknown>): Buffer {
  return encodeJsonFrame(FrameType.REQUEST, id, message);
}

/** `bytes` as DATA frames of at most DATA_CHUNK_BYTES, as every sender must cut them. */
function dataFrames(id: number, bytes: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += DATA_CHUNK_BYTES) {
    frames.push(encodeFrame(FrameType.DATA, id, bytes.subarray(offset, offset + DATA_CHUNK_BYTES)));
  }
  return frames;
}

function endFrame(id: number, digest: Buffer): Buffer {
  return encodeFrame(FrameType.END, id, digest);
}

/** A whole upload: REQUEST, DATA..., END. `size` and `digest` may lie, to test the checks. */
function upload(id: number, path: string, data: Buffer, lie: { size?: number; digest?: Buffer } = {}): Buffer[] {
  return [
    request(id, { op: 'put', path, size: lie.size ?? data.length, noClobber: false }),
    ...dataFrames(id, data),
    endFrame(id, lie.digest ?? sha256Bytes(data)),
  ];
}

async function handshake(connection: RawConnection): Promise<Welcome> {
  connection.send(hello());
  const frame = await connection.next('WELCOME');
  if (frame.type !== FrameType.WELCOME) throw new Error(`expected WELCOME, got ${JSON.stringify(summary(frame))}`);
  return parseWelcome(json<unknown>(frame));
}

/** A raw connection past the handshake and logged in with request id 1. */
async function loggedIn(t: ExecutionContext, server: TestServer, credentials = ADMIN): Promise<{ connection: RawConnection; welcome: Welcome }> {
  const connection = await rawConnect(t, server);
  const welcome = await handshake(connection);
  connection.send(request(1, { op: 'login', ...credentials }));
  okBody<LoginResult>(await connection.next('the answer to login'), 1);
  return { connection, welcome };
}

interface Download {
  header: GetHeader;
  dataFrames: Buffer[];
  digest: Buffer;
}

/** Reads the answer to a get: OK header, DATA frames, END. */
async function receiveDownload(connection: RawConnection, id: number): Promise<Download> {
  const header = okBody<GetHeader>(await connection.next(`the OK of download ${id}`), id);
  const received: Buffer[] = [];
  for (;;) {
    const frame = await connection.next(`DATA or END of download ${id}`);
    if (frame.id === id && frame.type === FrameType.DATA) received.push(frame.payload);
    else if (frame.id === id && frame.type === FrameType.END) return { header, dataFrames: received, digest: frame.payload };
    else throw new Error(`unexpected ${JSON.stringify(summary(frame))} inside download ${id}`);
  }
}

async function assertServerStillServes(t: ExecutionContext, server: TestServer): Promise<void> {
  const client = await server.connect();
  t.is((await client.stat('/')).type, 'dir', 'a well-behaved client is still served');
}

// --- Malformed input -------------------------------------------------------------

interface MalformedCase {
  title: string;
  /** How far the connection gets before the bad bytes: nowhere, or logged in. */
  after: 'connect' | 'login';
  bytes(welcome: Welcome | undefined): Buffer;
  message: RegExp;
}

const MALFORMED: MalformedCase[] = [
  {
    title: 'a frame header announcing more than the maxFrameBytes of WELCOME',
    after: 'login',
    bytes: (welcome) => encodeHeader(FrameType.REQUEST, 2, (welcome?.maxFrameBytes ?? 0) + 1),
    message: /a frame of \d+ bytes exceeds the limit of \d+/,
  },
  {
    title: 'a first frame announcing 4 GiB',
    after: 'connect',
    bytes: () => encodeHeader(FrameType.HELLO, 0, 0xffff_ffff),
    message: /exceeds the limit/,
  },
  {
    title: 'an unknown frame type',
    after: 'login',
    bytes: () => Buffer.from('00000000' + '7f' + '00000002', 'hex'),
    message: /unknown frame type 0x7f/,
  },
  {
    title: 'garbage bytes instead of a HELLO',
    after: 'connect',
    bytes: () => Buffer.from('deadbeefcafebabe0123456789abcdef', 'hex'),
    message: /unknown frame type 0xca/,
  },
  {
    title: 'a classroom-style text command instead of a HELLO',
    after: 'connect',
    bytes: () => Buffer.from('upload foo.txt\n', 'utf8'),
    message: /unknown frame type 0x61/,
  },
  {
    title: 'a well-formed REQUEST instead of a HELLO',
    after: 'connect',
    bytes: () => request(1, { op: 'login', ...ADMIN }),
    message: /the first frame must be HELLO/,
  },
  {
    title: 'a REQUEST whose payload is not JSON',
    after: 'login',
    bytes: () => encodeFrame(FrameType.REQUEST, 2, Buffer.from('stat /', 'utf8')),
    message: /does not hold valid JSON/,
  },
  {
    title: 'a DATA frame when no upload is in progress',
    after: 'login',
    bytes: () => encodeFrame(FrameType.DATA, 2, Buffer.from('stray bytes')),
    message: /expected a request, got frame type 32/,
  },
  {
    title: 'an END frame whose digest is not 32 bytes',
    after: 'login',
    bytes: () => Buffer.concat([request(2, { op: 'put', path: '/short-end.txt', size: 0, noClobber: false }), encodeFrame(FrameType.END, 2, Buffer.alloc(8))]),
    message: /an END frame must hold a 32-byte digest, not 8 bytes/,
  },
  {
    title: "a frame of another request inside an upload's data",
    after: 'login',
    bytes: () =>
      Buffer.concat([
        request(2, { op: 'put', path: '/interleaved.txt', size: 10, noClobber: false }),
        encodeFrame(FrameType.DATA, 2, Buffer.from('12345')),
        request(3, { op: 'stat', path: '/' }),
      ]),
    message: /frame type 16 for request 3 arrived inside the data of upload 2/,
  },
];

for (const bad of MALFORMED) {
  test(`${bad.title} gets BAD_FRAME on id 0 and a close, and the server keeps serving`, async (t) => {
    const server = await startServer(t, { tls: false });
    let connection: RawConnection;
    let welcome: Welcome | undefined;
    if (bad.after === 'login') ({ connection, welcome } = await loggedIn(t, server));
    else connection = await rawConnect(t, server);

    connection.send(bad.bytes(welcome));
    const answer = summary(await connection.next('the ERROR frame'));
    t.like(answer, { type: 'ERROR', id: 0, code: 'BAD_FRAME' });
    t.regex(answer.message ?? '', bad.message);
    t.deepEqual(await connection.untilClosed(), [], 'nothing follows the ERROR frame');
    await assertServerStillServes(t, server);
    t.deepEqual(await server.stored.names(''), [], 'nothing was committed');
  });
}

// --- Handshake and login ------------------------------------------------------------

test('the server answers HELLO with WELCOME naming its version, capabilities and frame limit', async (t) => {
  const server = await startServer(t, { tls: false });
  const connection = await rawConnect(t, server);
  const welcome = await handshake(connection);
  t.like(welcome, { protocol: 'ferry', version: 1, agent: 'ferry-test', maxFrameBytes: 4 * 1024 * 1024 });
  t.deepEqual(welcome.capabilities, ['pipelining', 'resume-download', 'recursive-list', 'no-clobber', 'mtime', 'put-stream']);
});

test('a HELLO with version 2 gets UNSUPPORTED_VERSION naming both versions, and a close', async (t) => {
  const server = await startServer(t, { tls: false });
  const connection = await rawConnect(t, server);
  connection.send(hello({ version: 2 }));
  const answer = summary(await connection.next('the ERROR frame'));
  t.like(answer, { type: 'ERROR', id: 0, code: 'UNSUPPORTED_VERSION' });
  t.regex(answer.message ?? '', /server speaks ferry protocol version 1\b/);
  t.regex(answer.message ?? '', /client ferry version 2\b/);
  t.deepEqual(await connection.untilClosed(), []);
  await assertServerStillServes(t, server);
});

test('a HELLO for another protocol gets UNSUPPORTED_VERSION, and one without capabilities gets BAD_REQUEST', async (t) => {
  const server = await startServer(t, { tls: false });
  const otherProtocol = await rawConnect(t, server);
  otherProtocol.send(hello({ protocol: 'ftp' }));
  const refused = summary(await otherProtocol.next('the ERROR frame'));
  t.like(refused, { type: 'ERROR', id: 0, code: 'UNSUPPORTED_VERSION' });
  t.regex(refused.message ?? '', /client ftp version 1/);
  t.deepEqual(await otherProtocol.untilClosed(), []);

  const incomplete = await rawConnect(t, server);
  incomplete.send(hello({ capabilities: 'all of them' }));
  t.like(summary(await incomplete.next('the ERROR frame')), { type: 'ERROR', id: 0, code: 'BAD_REQUEST' });
  t.deepEqual(await incomplete.untilClosed(), []);
});

test('a HELLO with an empty capability list is valid: the server welcomes it and offers its own', async (t) => {
  const server = await startServer(t, { tls: false });
  const connection = await rawConnect(t, server);
  connection.send(hello({ capabilities: [] }), request(1, { op: 'login', ...ADMIN }));
  const frame = await connection.next('WELCOME');
  t.is(frame.type, FrameType.WELCOME, JSON.stringify(summary(frame)));
  t.deepEqual(parseWelcome(json<unknown>(frame)).capabilities, [...CAPABILITIES]);
  okBody<LoginResult>(await connection.next('the login answer'), 1);
});

test('size is required in put: a put without it gets BAD_REQUEST, and its END is discarded', async (t) => {
  const server = await startServer(t, { tls: false });
  const { connection } = await loggedIn(t, server);
  connection.send(request(2, { op: 'put', path: '/no-size.txt' }), encodeFrame(FrameType.END, 2, sha256Bytes(Buffer.alloc(0))), request(3, { op: 'stat', path: '/' }));
  const answer = summary(await connection.next('the answer to the put'));
  t.like(answer, { type: 'ERROR', id: 2, code: 'BAD_REQUEST' });
  t.regex(answer.message ?? '', /"size" must be a whole number/);
  t.like(okBody<Entry>(await connection.next('the stat answer'), 3), { type: 'dir' });
});

test('resume for an upload the server holds nothing of answers OK with offset 0 and the SHA-256 of no bytes', async (t) => {
  const server = await startServer(t, { tls: false });
  const { connection } = await loggedIn(t, server);
  connection.send(request(2, { op: 'resume', path: '/never-started.bin', size: 5_000_000 }));
  t.deepEqual(okBody<{ offset: number; prefixSha256: string }>(await connection.next('the resume answer'), 2), {
    offset: 0,
    prefixSha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  });
});

test('a client may pipeline its login and first requests right behind HELLO', async (t) => {
  const server = await startServer(t, { tls: false });
  const connection = await rawConnect(t, server);
  connection.send(hello(), request(1, { op: 'login', ...ADMIN }), request(2, { op: 'stat', path: '/' }));
  t.is((await connection.next('WELCOME')).type, FrameType.WELCOME);
  t.deepEqual(okBody<LoginResult>(await connection.next('the login answer'), 1), {
    user: 'admin',
    home: '/',
    permissions: ['list', 'read', 'write', 'delete'],
  });
  t.like(okBody<Entry>(await connection.next('the stat answer'), 2), { name: '/', type: 'dir' });
});

test('requests before login get AUTH_REQUIRED on their own ids, and the connection stays open for login', async (t) => {
  const server = await startServer(t, { tls: false });
  const connection = await rawConnect(t, server);
  await handshake(connection);
  connection.send(
    request(1, { op: 'stat', path: '/' }),
    request(2, { op: 'list', path: '/', recursive: false }),
    request(3, { op: 'get', path: '/x', offset: 0 }),
    request(4, { op: 'mkdir', path: '/x' }),
  );
  for (const id of [1, 2, 3, 4]) {
    t.like(summary(await connection.next(`the answer to ${id}`)), { type: 'ERROR', id, code: 'AUTH_REQUIRED' });
  }
  connection.send(request(5, { op: 'login', ...ADMIN }), request(6, { op: 'stat', path: '/' }));
  okBody<LoginResult>(await connection.next('the login answer'), 5);
  t.like(okBody<Entry>(await connection.next('the stat answer'), 6), { type: 'dir' });
  t.deepEqual(await server.stored.names(''), [], 'the mkdir before login did nothing');
});

test('a put before login has its data discarded up to END and the connection keeps working', async (t) => {
  const server = await startServer(t, { tls: false });
  const connection = await rawConnect(t, server);
  await handshake(connection);
  // Small enough for the frame limit before login (a few KiB).
  const data = randomBytes(3000);
  connection.send(...upload(1, '/early.bin', data), request(2, { op: 'stat', path: '/' }));
  t.like(summary(await connection.next('the answer to the put')), { type: 'ERROR', id: 1, code: 'AUTH_REQUIRED' });
  t.like(summary(await connection.next('the answer to the stat')), { type: 'ERROR', id: 2, code: 'AUTH_REQUIRED' });
  connection.send(request(3, { op: 'login', ...ADMIN }), request(4, { op: 'stat', path: '/early.bin' }));
  okBody<LoginResult>(await connection.next('the login answer'), 3);
  t.like(summary(await connection.next('the stat answer')), { type: 'ERROR', id: 4, code: 'NOT_FOUND' });
  t.deepEqual(await server.stored.names(''), []);
});

test('before login a frame over the pre-login limit, even DATA, gets BAD_FRAME and a close; after login the full limit applies', async (t) => {
  const server = await startServer(t, { tls: false });
  const early = await rawConnect(t, server);
  await handshake(early);
  early.send(...upload(1, '/early.bin', randomBytes(DATA_CHUNK_BYTES)));
  t.like(summary(await early.next('the answer to the put')), { type: 'ERROR', id: 1, code: 'AUTH_REQUIRED' });
  const refused = summary(await early.next('the refusal of its first DATA frame'));
  t.like(refused, { type: 'ERROR', id: 0, code: 'BAD_FRAME' });
  t.regex(refused.message ?? '', /exceeds the limit of 4096/);
  t.deepEqual(await early.untilClosed(), []);

  const late = await rawConnect(t, server);
  await handshake(late);
  late.send(request(1, { op: 'login', ...ADMIN }));
  okBody<LoginResult>(await late.next('the login answer'), 1);
  const data = randomBytes(DATA_CHUNK_BYTES);
  late.send(...upload(2, '/late.bin', data));
  t.like(summary(await late.next('the put answer')), { type: 'OK', id: 2 });
});

test('a wrong password gets AUTH_FAILED and the same connection may try again; a second login gets BAD_REQUEST', async (t) => {
  const server = await startServer(t, { tls: false });
  const connection = await rawConnect(t, server);
  await handshake(connection);
  connection.send(
    request(1, { op: 'login', user: ADMIN.user, password: 'not-it' }),
    request(2, { op: 'login', ...ADMIN }),
    request(3, { op: 'login', ...READER }),
  );
  t.like(summary(await connection.next('the first login answer')), { type: 'ERROR', id: 1, code: 'AUTH_FAILED' });
  okBody<LoginResult>(await connection.next('the second login answer'), 2);
  const again = summary(await connection.next('the third login answer'));
  t.like(again, { type: 'ERROR', id: 3, code: 'BAD_REQUEST' });
  t.regex(again.message ?? '', /already logged in as admin/);
});

test('a connection that does not log in within the auth timeout gets TIMEOUT on id 0 and a close', async (t) => {
  const server = await startServer(t, { tls: false, limits: { authTimeoutMs: 1500 } });
  const connection = await rawConnect(t, server);
  await handshake(connection);
  const answer = summary(await connection.next('the TIMEOUT error'));
  t.like(answer, { type: 'ERROR', id: 0, code: 'TIMEOUT' });
  t.regex(answer.message ?? '', /no login within 1500 ms/);
  t.deepEqual(await connection.untilClosed(), []);
});

test('a connection over the limit gets BUSY on id 0 at once, before any HELLO, and a close', async (t) => {
  const server = await startServer(t, { tls: false, maxConnections: 1 });
  const first = await rawConnect(t, server);
  await handshake(first);
  const second = await rawConnect(t, server);
  const answer = summary(await second.next('the BUSY error'));
  t.like(answer, { type: 'ERROR', id: 0, code: 'BUSY' });
  t.regex(answer.message ?? '', /at its limit of 1 connections/);
  t.deepEqual(await second.untilClosed(), []);
});

// --- Requests -----------------------------------------------------------------------

test('50 stat and mkdir requests written in one socket write are all answered, in order, by id', async (t) => {
  const server = await startServer(t, { tls: false });
  const { connection } = await loggedIn(t, server);
  const frames: Buffer[] = [];
  const ids: number[] = [];
  for (let i = 0; i < 25; i++) {
    // Each stat names the folder the mkdir right before it creates: order is observable.
    frames.push(request(100 + 2 * i, { op: 'mkdir', path: `/dir-${i}` }), request(101 + 2 * i, { op: 'stat', path: `/dir-${i}` }));
    ids.push(100 + 2 * i, 101 + 2 * i);
  }
  connection.send(...frames);
  const answers: Frame[] = [];
  for (let i = 0; i < ids.length; i++) answers.push(await connection.next(`answer ${i + 1} of ${ids.length}`));
  t.deepEqual(
    answers.map((frame) => frame.id),
    ids,
  );
  t.true(answers.every((frame) => frame.type === FrameType.OK), JSON.stringify(answers.map(summary)));
  for (let i = 0; i < 25; i++) {
    t.deepEqual(json<unknown>(answers[2 * i] as Frame), {});
    t.like(json<Entry>(answers[2 * i + 1] as Frame), { name: `dir-${i}`, type: 'dir', size: 0 });
  }
});

test('a request the server does not understand gets BAD_REQUEST on its id and the connection keeps working', async (t) => {
  const server = await startServer(t, { tls: false });
  const { connection } = await loggedIn(t, server);
  connection.send(
    request(2, { op: 'upload', path: '/foo.txt' }),
    request(3, { op: 'stat' }),
    request(4, { op: 'get', path: '/x', offset: -1 }),
    request(5, { op: 'list', path: '/', recursive: 'yes' }),
    encodeJsonFrame(FrameType.REQUEST, 6, ['stat', '/']),
    request(7, { op: 'stat', path: '/' }),
  );
  const messages = [/unknown operation "upload"/, /"path" must be a string/, /"offset" must be a whole number/, /"recursive" must be true or false/, /a request must be a JSON object/];
  for (const [index, message] of messages.entries()) {
    const answer = summary(await connection.next(`the answer to ${index + 2}`));
    t.like(answer, { type: 'ERROR', id: index + 2, code: 'BAD_REQUEST' });
    t.regex(answer.message ?? '', message);
  }
  t.like(okBody<Entry>(await connection.next('the stat answer'), 7), { type: 'dir' });
});

test('remote paths that climb out, or hold backslashes, control characters or overlong names, get BAD_PATH', async (t) => {
  const server = await startServer(t, { tls: false });
  const { connection } = await loggedIn(t, server);
  const refused = ['../etc/passwd', '/a/../../b', 'a\\b', 'tab\there', 'nul\u0000', 'c1\u0085', 'n'.repeat(256), `/${'d/'.repeat(2049)}`];
  connection.send(...refused.map((path, index) => request(10 + index, { op: 'stat', path })));
  for (const [index, path] of refused.entries()) {
    t.like(summary(await connection.next(`the answer for ${JSON.stringify(path)}`)), { type: 'ERROR', id: 10 + index, code: 'BAD_PATH' }, JSON.stringify(path));
  }
  // Empty and "." segments are skipped; a leading "/" is the home.
  connection.send(request(30, { op: 'mkdir', path: '//nested/./deep/' }), request(31, { op: 'stat', path: 'nested/deep' }), request(32, { op: 'stat', path: '' }));
  okBody<unknown>(await connection.next('the mkdir answer'), 30);
  t.like(okBody<Entry>(await connection.next('the stat answer'), 31), { name: 'deep', type: 'dir' });
  t.like(okBody<Entry>(await connection.next('the stat of the home'), 32), { name: '/', type: 'dir' });
});

// Every command that touches storage runs on each backend.
for (const backend of BACKENDS) {
  // The S3 variants (each with its own s3rver) run one at a time, before the rest of the file.
  const storageTest = backend === 's3' ? test.serial : test;
  storageTest(`${backend}: stat answers an entry with the SHA-256 of a file, list answers PART batches of at most 500 entries then OK with the count`, async (t) => {
    const server = await startServer(t, { tls: false, backend });
    const content = Buffer.from('hello, ferry\n');
    await server.stored.write('many/hello.txt', content);
    for (let batch = 0; batch < 600; batch += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => server.stored.write(`many/sub/f${batch + i}`, '')));
    }
    const { connection } = await loggedIn(t, server);

    connection.send(request(2, { op: 'stat', path: '/many/hello.txt' }));
    const entry = okBody<Entry>(await connection.next('the stat answer'), 2);
    const mtime = await server.stored.mtime('many/hello.txt');
    t.deepEqual(entry, { name: 'hello.txt', type: 'file', size: content.length, mtime: Math.trunc(mtime), sha256: sha256(content) });

    connection.send(request(3, { op: 'list', path: '/many', recursive: true }), request(4, { op: 'list', path: '/many', recursive: false }));
    const listed: Entry[] = [];
    let parts = 0;
    for (;;) {
      const frame = await connection.next('PART or OK of the recursive listing');
      if (frame.type !== FrameType.PART) {
        t.deepEqual(okBody<unknown>(frame, 3), { count: 602 });
        break;
      }
      t.is(frame.id, 3);
      const batch = json<Entry[]>(frame);
      t.true(batch.length >= 1 && batch.length <= 500, `a PART of ${batch.length} entries`);
      listed.push(...batch);
      parts++;
    }
    t.true(parts >= 2, 'more than 500 entries come in more than one PART');
    t.is(listed.length, 602);
    t.true(listed.some((e) => e.name === 'sub' && e.type === 'dir'));
    t.true(listed.some((e) => e.name === 'sub/f599' && e.type === 'file' && e.size === 0));
    t.true(listed.every((e) => e.sha256 === undefined), 'listings carry no digests');

    const shallow = await connection.next('the PART of the flat listing');
    t.like(summary(shallow), { type: 'PART', id: 4 });
    t.deepEqual(json<Entry[]>(shallow).map((e) => e.name).sort(), ['hello.txt', 'sub']);
    t.deepEqual(okBody<unknown>(await connection.next('the OK of the flat listing'), 4), { count: 2 });
  });

  storageTest(`${backend}: delete, rename and mkdir answer OK with an empty object, name the failure otherwise, and never act on the home itself`, async (t) => {
    const server = await startServer(t, { tls: false, backend });
    const { connection } = await loggedIn(t, server);
    connection.send(
      request(2, { op: 'mkdir', path: '/a/b' }),
      ...upload(3, '/a/b/file.txt', Buffer.from('one')),
      request(4, { op: 'rename', from: '/a/b/file.txt', to: '/a/moved.txt', noClobber: true }),
      request(5, { op: 'delete', path: '/a', recursive: false }),
      request(6, { op: 'delete', path: '/a/b', recursive: false }),
      request(7, { op: 'rename', from: '/nope', to: '/a/x', noClobber: false }),
      request(8, { op: 'delete', path: '/a', recursive: true }),
      request(9, { op: 'delete', path: '/', recursive: true }),
      request(10, { op: 'mkdir', path: '/' }),
      request(11, { op: 'rename', from: '', to: '/elsewhere', noClobber: false }),
    );
    t.deepEqual(okBody<unknown>(await connection.next('mkdir'), 2), {});
    t.like(okBody<PutResult>(await connection.next('put'), 3), { path: '/a/b/file.txt', size: 3, sha256: sha256('one') });
    t.deepEqual(okBody<unknown>(await connection.next('rename'), 4), {});
    t.like(summary(await connection.next('delete of a full folder')), { type: 'ERROR', id: 5, code: 'NOT_EMPTY' });
    t.deepEqual(okBody<unknown>(await connection.next('delete of an empty folder'), 6), {});
    t.like(summary(await connection.next('rename of nothing')), { type: 'ERROR', id: 7, code: 'NOT_FOUND' });
    t.deepEqual(okBody<unknown>(await connection.next('recursive delete'), 8), {});
    for (const id of [9, 10, 11]) {
      const answer = summary(await connection.next(`request ${id} on the home itself`));
      t.like(answer, { type: 'ERROR', id, code: 'BAD_PATH' });
      t.regex(answer.message ?? '', /cannot be done to your home folder itself/);
    }
    t.deepEqual(await server.stored.names(''), []);
  });

  // --- Uploads ------------------------------------------------------------------------

  storageTest(`${backend}: an upload streams DATA and END without waiting and is answered OK with its path, size and SHA-256`, async (t) => {
    const server = await startServer(t, { tls: false, backend });
    const { connection } = await loggedIn(t, server);
    const data = randomBytes(2 * DATA_CHUNK_BYTES + 12_345);
    const empty = Buffer.alloc(0);
    connection.send(...upload(2, '/up/big.bin', data), ...upload(3, '/empty.txt', empty));
    t.deepEqual(okBody<PutResult>(await connection.next('the big put'), 2), { path: '/up/big.bin', size: data.length, sha256: sha256(data), offset: 0 });
    t.deepEqual(okBody<PutResult>(await connection.next('the empty put'), 3), { path: '/empty.txt', size: 0, sha256: sha256(empty), offset: 0 });
    t.true((await server.stored.read('up/big.bin'))?.equals(data));
    t.is((await server.stored.read('empty.txt'))?.length, 0);
  });

  storageTest(`${backend}: an upload whose END digest is wrong gets INTEGRITY and nothing is visible under its name`, async (t) => {
    const server = await startServer(t, { tls: false, backend });
    const { connection } = await loggedIn(t, server);
    const original = Buffer.from('the original content');
    connection.send(...upload(2, '/kept.txt', original));
    okBody<PutResult>(await connection.next('the first put'), 2);

    const replacement = randomBytes(DATA_CHUNK_BYTES + 1);
    const wrong = sha256Bytes(Buffer.from('something else'));
    connection.send(
      ...upload(3, '/kept.txt', replacement, { digest: wrong }),
      ...upload(4, '/fresh.bin', replacement, { digest: wrong }),
      request(5, { op: 'stat', path: '/fresh.bin' }),
      request(6, { op: 'stat', path: '/kept.txt' }),
    );
    for (const id of [3, 4]) {
      const answer = summary(await connection.next(`the answer to put ${id}`));
      t.like(answer, { type: 'ERROR', id, code: 'INTEGRITY' });
      t.regex(answer.message ?? '', /SHA-256 of the received data does not match/);
    }
    t.like(summary(await connection.next('stat of the refused new file')), { type: 'ERROR', id: 5, code: 'NOT_FOUND' });
    t.like(okBody<Entry>(await connection.next('stat of the old file'), 6), { size: original.length, sha256: sha256(original) });
    t.deepEqual(await server.stored.names(''), ['kept.txt']);
    t.true((await server.stored.read('kept.txt'))?.equals(original), 'the old content is untouched');
  });

  storageTest(`${backend}: an upload that ends short of its announced size gets INTEGRITY and nothing is committed`, async (t) => {
    const server = await startServer(t, { tls: false, backend });
    const { connection } = await loggedIn(t, server);
    const sent = randomBytes(60);
    connection.send(...upload(2, '/short.bin', sent, { size: 100 }), request(3, { op: 'stat', path: '/short.bin' }));
    const answer = summary(await connection.next('the answer to the put'));
    t.like(answer, { type: 'ERROR', id: 2, code: 'INTEGRITY' });
    t.regex(answer.message ?? '', /ended after 60 of the 100 bytes/);
    t.like(summary(await connection.next('the stat answer')), { type: 'ERROR', id: 3, code: 'NOT_FOUND' });
    t.deepEqual(await server.stored.names(''), []);
  });

  storageTest(`${backend}: an upload that sends more bytes than announced gets INTEGRITY, its data is discarded up to END and nothing is committed`, async (t) => {
    const server = await startServer(t, { tls: false, backend });
    const { connection } = await loggedIn(t, server);
    const data = randomBytes(20);
    connection.send(
      request(2, { op: 'put', path: '/long.bin', size: 10, noClobber: false }),
      encodeFrame(FrameType.DATA, 2, data.subarray(0, 8)),
      encodeFrame(FrameType.DATA, 2, data.subarray(8, 16)),
      encodeFrame(FrameType.DATA, 2, data.subarray(16)),
      endFrame(2, sha256Bytes(data)),
      request(3, { op: 'stat', path: '/long.bin' }),
    );
    const answer = summary(await connection.next('the answer to the put'));
    t.like(answer, { type: 'ERROR', id: 2, code: 'INTEGRITY' });
    t.regex(answer.message ?? '', /more than the 10 bytes it announced/);
    t.like(summary(await connection.next('the stat answer')), { type: 'ERROR', id: 3, code: 'NOT_FOUND' });
    t.deepEqual(await server.stored.names(''), []);
  });

  storageTest(`${backend}: a refused upload's data is discarded up to END, so the next pipelined request is answered`, async (t) => {
    const server = await startServer(t, { tls: false, backend });
    const { connection } = await loggedIn(t, server, READER);
    const data = randomBytes(3 * DATA_CHUNK_BYTES);
    connection.send(...upload(2, '/denied.bin', data), request(3, { op: 'stat', path: '/' }), ...upload(4, '/denied-too.bin', data));
    const answer = summary(await connection.next('the answer to the put'));
    t.like(answer, { type: 'ERROR', id: 2, code: 'PERMISSION_DENIED' });
    t.regex(answer.message ?? '', /may not upload/);
    t.like(okBody<Entry>(await connection.next('the stat answer'), 3), { type: 'dir' });
    t.like(summary(await connection.next('the answer to the second put')), { type: 'ERROR', id: 4, code: 'PERMISSION_DENIED' });
    t.deepEqual(await server.stored.names(''), []);
  });

  storageTest(`${backend}: a refused upload is answered as soon as it is refused, before its data, so the sender can stop and END early`, async (t) => {
    const server = await startServer(t, { tls: false, backend });
    const { connection } = await loggedIn(t, server, READER);
    connection.send(request(2, { op: 'put', path: '/denied.bin', size: 1024 ** 3, noClobber: false }), ...dataFrames(2, randomBytes(1000)));
    // A sender that had to push the whole gigabyte first would learn of the refusal far too late.
    const answer = summary(await connection.next('the refusal, before the data is complete'));
    t.like(answer, { type: 'ERROR', id: 2, code: 'PERMISSION_DENIED' });
    connection.send(endFrame(2, sha256Bytes(Buffer.alloc(0))), request(3, { op: 'stat', path: '/' }));
    t.like(okBody<Entry>(await connection.next('the stat answer'), 3), { type: 'dir' });
  });

  // --- Downloads ----------------------------------------------------------------------

  storageTest(`${backend}: a download answers OK with size, offset and mtime, DATA frames of at most 1 MiB, and END with the SHA-256 of the whole file, from any offset`, async (t) => {
    const server = await startServer(t, { tls: false, backend });
    const data = randomBytes(2 * DATA_CHUNK_BYTES + DATA_CHUNK_BYTES / 2 + 7);
    await server.stored.write('big.bin', data);
    const mtimeMs = await server.stored.mtime('big.bin');
    const { connection } = await loggedIn(t, server);
    const offsets = [0, 1_234_567, data.length];
    connection.send(...offsets.map((offset, index) => request(10 + index, { op: 'get', path: '/big.bin', offset })));

    for (const [index, offset] of offsets.entries()) {
      const download = await receiveDownload(connection, 10 + index);
      t.like(download.header, { size: data.length, offset });
      t.true(Math.abs(download.header.mtime - mtimeMs) < 1, 'mtime is the file modification time in ms');
      t.true(
        download.dataFrames.every((payload) => payload.length > 0 && payload.length <= DATA_CHUNK_BYTES),
        `DATA sizes: ${download.dataFrames.map((payload) => payload.length).join(', ')}`,
      );
      t.true(Buffer.concat(download.dataFrames).equals(data.subarray(offset)), `the bytes from offset ${offset}`);
      t.true(download.digest.equals(sha256Bytes(data)), `END holds the digest of the whole file (offset ${offset})`);
    }
  });

  storageTest(`${backend}: a download past the end, of a folder or of nothing gets an ERROR on its id and the connection keeps working`, async (t) => {
    const server = await startServer(t, { tls: false, backend });
    await server.stored.write('small.txt', 'abc');
    const { connection } = await loggedIn(t, server);
    connection.send(
      request(2, { op: 'get', path: '/small.txt', offset: 4 }),
      request(3, { op: 'get', path: '/', offset: 0 }),
      request(4, { op: 'get', path: '/missing', offset: 0 }),
      request(5, { op: 'get', path: '/small.txt' }),
    );
    const pastEnd = summary(await connection.next('the answer past the end'));
    t.like(pastEnd, { type: 'ERROR', id: 2, code: 'BAD_REQUEST' });
    t.regex(pastEnd.message ?? '', /offset 4 is past the end of the 3-byte file/);
    t.like(summary(await connection.next('the answer for a folder')), { type: 'ERROR', id: 3, code: 'IS_A_DIRECTORY' });
    t.like(summary(await connection.next('the answer for nothing')), { type: 'ERROR', id: 4, code: 'NOT_FOUND' });
    const whole = await receiveDownload(connection, 5);
    t.like(whole.header, { size: 3, offset: 0 }, 'offset defaults to 0');
    t.is(Buffer.concat(whole.dataFrames).toString(), 'abc');
  });
}

// --- Closing ------------------------------------------------------------------------

test('quit closes that connection only, ignores what follows it, and another open connection keeps working', async (t) => {
  const server = await startServer(t, { tls: false });
  const { connection: leaving } = await loggedIn(t, server);
  const { connection: staying } = await loggedIn(t, server);
  leaving.send(request(2, { op: 'quit' }), request(3, { op: 'stat', path: '/' }));
  t.deepEqual(okBody<unknown>(await leaving.next('the answer to quit'), 2), {});
  t.deepEqual(await leaving.untilClosed(), [], 'the request after quit is not answered');

  staying.send(request(2, { op: 'mkdir', path: '/still-here' }), request(3, { op: 'stat', path: '/still-here' }));
  okBody<unknown>(await staying.next('the mkdir answer'), 2);
  t.like(okBody<Entry>(await staying.next('the stat answer'), 3), { type: 'dir' });
  await assertServerStillServes(t, server);
});

test('requests that arrive in the same packet before a malformed frame are answered before the connection closes', async (t) => {
  const server = await startServer(t, { tls: false });
  const { connection } = await loggedIn(t, server);
  connection.send(
    request(2, { op: 'mkdir', path: '/made-before-the-bad-frame' }),
    request(3, { op: 'stat', path: '/made-before-the-bad-frame' }),
    Buffer.from('upload foo.txt\n', 'utf8'),
  );
  const frames = (await connection.untilClosed()).map((frame) => {
    const { type, id, code } = summary(frame);
    return code === undefined ? { type, id } : { type, id, code };
  });
  t.deepEqual(frames, [
    { type: 'OK', id: 2 },
    { type: 'OK', id: 3 },
    { type: 'ERROR', id: 0, code: 'BAD_FRAME' },
  ]);
});

/** A streamed upload (docs/protocol.md, section 5.7): REQUEST, DATA..., PART {size}, END; each part may lie or be left out. */
function streamUpload(id: number, path: string, data: Buffer, lie: { size?: number | null; digest?: Buffer; trailers?: number } = {}): Buffer[] {
  const trailer = encodeJsonFrame(FrameType.PART, id, { size: lie.size ?? data.length });
  return [
    request(id, { op: 'putStream', path }),
    ...dataFrames(id, data),
    ...(lie.size === null ? [] : Array.from({ length: lie.trailers ?? 1 }, () => trailer)),
    endFrame(id, lie.digest ?? sha256Bytes(data)),
  ];
}

test('putStream stores data whose size is stated after it; a wrong stated size, a wrong digest, no size, two sizes or data after the size store nothing and the connection keeps working', async (t) => {
  const server = await startServer(t, { tls: false });
  const { connection, welcome } = await loggedIn(t, server);
  t.true(welcome.capabilities.includes('put-stream'));
  const data = randomBytes(DATA_CHUNK_BYTES + 1234);
  connection.send(...streamUpload(2, '/streamed.bin', data));
  t.like(okBody<{ size: number; sha256: string }>(await connection.next('the streamed upload'), 2), { size: data.length, sha256: sha256(data) });
  t.is(await server.stored.sha256('streamed.bin'), sha256(data));
  const cases: [Buffer[], string, RegExp][] = [
    [streamUpload(3, '/lies-size.bin', data, { size: data.length - 1 }), 'INTEGRITY', /states \d+ bytes but \d+ arrived/],
    [streamUpload(4, '/lies-digest.bin', data, { digest: Buffer.alloc(32) }), 'INTEGRITY', /SHA-256/],
    [streamUpload(5, '/no-size.bin', data, { size: null }), 'BAD_REQUEST', /without stating its size/],
    [streamUpload(6, '/two-sizes.bin', data, { trailers: 2 }), 'BAD_REQUEST', /states its size once/],
    [
      [request(7, { op: 'putStream', path: '/late-data.bin' }), encodeJsonFrame(FrameType.PART, 7, { size: 0 }), ...dataFrames(7, data), endFrame(7, sha256Bytes(data))],
      'BAD_REQUEST',
      /data came after the size/,
    ],
    [[request(8, { op: 'putStream', path: '/bad-trailer.bin' }), encodeJsonFrame(FrameType.PART, 8, { size: -1 }), endFrame(8, sha256Bytes(Buffer.alloc(0)))], 'BAD_REQUEST', /"size"/],
    [streamUpload(9, '/../escape.bin', data), 'BAD_PATH', /climbs out/],
  ];
  for (const [frames, code, message] of cases) {
    connection.send(...frames);
    const answer = summary(await connection.next(`the answer to ${code}`));
    t.is(answer.code, code, JSON.stringify(answer));
    t.regex(answer.message ?? '', message);
  }
  for (const name of ['lies-size.bin', 'lies-digest.bin', 'no-size.bin', 'two-sizes.bin', 'late-data.bin', 'bad-trailer.bin']) t.is(await server.stored.sha256(name), undefined, name);
  t.deepEqual(await server.stored.leftovers(), []);
  await assertServerStillServes(t, server);
});

test('a PART frame inside a sized put is a protocol error: only a streamed upload states its size at the end', async (t) => {
  const server = await startServer(t, { tls: false });
  const { connection } = await loggedIn(t, server);
  connection.send(request(2, { op: 'put', path: '/sized.bin', size: 3 }), encodeJsonFrame(FrameType.PART, 2, { size: 3 }));
  const frames = (await connection.untilClosed()).map((frame) => summary(frame));
  t.like(frames.at(-1), { type: 'ERROR', id: 0, code: 'BAD_FRAME' });
  t.is(await server.stored.sha256('sized.bin'), undefined);
});
