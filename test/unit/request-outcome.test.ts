import test from 'ava';
import { FerryError, ferryError } from '../../src/protocol/errors.js';
import { FrameType, type Frame } from '../../src/protocol/frames.js';
import { SentRefusal, failed } from '../../src/server/outcome.js';
import { readRequest } from '../../src/server/request-frame.js';

function requestFrame(body: unknown): Frame {
  return { type: FrameType.REQUEST, id: 7, payload: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) };
}

test('a put is read once: the request, that data follows it, and the canonical path it writes', (t) => {
  const parsed = readRequest(requestFrame({ op: 'put', path: 'docs//a.txt', size: 3 }));
  t.like(parsed, { request: { op: 'put', path: 'docs//a.txt', size: 3 }, carriesData: true, uploadPath: '/docs/a.txt' });
  t.like(readRequest(requestFrame({ op: 'putStream', path: '/b' })), { carriesData: true, uploadPath: '/b' });
  t.like(readRequest(requestFrame({ op: 'put', path: '../escape', size: 1 })), { carriesData: true, uploadPath: undefined }, 'a path its handler refuses');
  t.like(readRequest(requestFrame({ op: 'stat', path: '/b' })), { request: { op: 'stat' }, carriesData: false, uploadPath: undefined });
});

test('a put whose fields do not parse is refused, and still known to be followed by its data', (t) => {
  const parsed = readRequest(requestFrame({ op: 'put', path: '/a', size: -1 }));
  t.is(parsed.request, undefined);
  t.true(parsed.carriesData);
  t.is(parsed.request === undefined ? parsed.error.code : undefined, 'BAD_REQUEST');
  t.like(readRequest(requestFrame({ op: 'dance' })), { request: undefined, carriesData: false, error: { code: 'BAD_REQUEST' } });
  t.like(readRequest(requestFrame([1, 2])), { request: undefined, carriesData: false });
});

test('a REQUEST that is not JSON at all is the connection\'s fault', (t) => {
  t.throws(() => readRequest(requestFrame('{"op":')), { instanceOf: FerryError, message: /valid JSON/ });
});

test('a failure is a refusal to answer, one already answered, or the connection failing under the request', (t) => {
  const denied = ferryError('PERMISSION_DENIED', 'no');
  t.like(failed(denied, 5), { kind: 'refused', error: denied, answered: false, reason: denied, bytes: 5 });
  t.like(failed(new SentRefusal(denied), 9), { kind: 'refused', error: denied, answered: true, reason: denied, bytes: 9 }, 'the refusal itself, not its wrapper');
  const surprise = new Error('EIO');
  t.like(failed(surprise, 0), { kind: 'refused', error: { code: 'INTERNAL' }, answered: false, reason: surprise });
  t.like(failed(ferryError('CONNECTION_LOST'), 3), { kind: 'aborted', error: { code: 'CONNECTION_LOST' }, bytes: 3 });
  t.like(failed(ferryError('BAD_FRAME'), 0), { kind: 'aborted', error: { code: 'BAD_FRAME' } });
});
