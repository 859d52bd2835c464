/**
 * The frame channel over a real TCP connection on loopback: frames come out whole
 * however the bytes are cut, oversize frames and cut-off connections are refused
 * with the right codes, and neither side runs ahead of a peer that is not reading.
 */

import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXPIRED, withDeadline } from '../../src/io/deadline.js';
import { FerryError } from '../../src/protocol/errors.js';
import { DATA_CHUNK_BYTES, FrameType, encodeEnd, encodeFrame, encodeHeader, encodeJsonFrame, parseJsonPayload, type Frame } from '../../src/protocol/frames.js';
import { FrameChannel } from '../../src/transport/channel.js';
import { sha256 } from '../helpers/files.js';

const MiB = 1024 * 1024;
const LIMIT = 64 * 1024;
/** A refusal comes from what was already received; this bound only turns a hang into a failure. */
const REFUSAL_MS = 10_000;
/** How long a side that should be held back is watched for running ahead. */
const HELD_MS = 1_000;

/** Both ends of one TCP connection on 127.0.0.1, destroyed when the test ends. */
async function loopbackPair(t: ExecutionContext): Promise<{ near: Socket; far: Socket }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const near = connect({ host: '127.0.0.1', port: address.port });
  const [far] = await accepted;
  await once(near, 'connect').catch(() => undefined);
  server.close();
  t.teardown(() => {
    near.destroy();
    far.destroy();
  });
  return { near, far };
}

/** Writes `bytes` and waits until the kernel took them, so each write leaves on its own. */
function writeNow(socket: Socket, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve())));
}

/** What next() rejected with, within a bounded wait: its FerryError code and message. */
async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const settled = promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  const error = await withDeadline(settled, REFUSAL_MS);
  if (error === EXPIRED) throw new Error(`no refusal within ${REFUSAL_MS} ms`);
  if (!(error instanceof FerryError)) throw new Error(`expected a FerryError, got ${String(error)}`);
  return { code: error.code, message: error.message };
}

/** The next whole frame: DATA slices joined until `length` bytes came. */
async function nextWhole(channel: FrameChannel, dataLength = 0): Promise<Frame | undefined> {
  const first = await channel.next();
  if (first?.type !== FrameType.DATA || first.payload.length >= dataLength) return first;
  const slices = [first.payload];
  let got = first.payload.length;
  while (got < dataLength) {
    const more = await channel.next();
    if (more?.type !== FrameType.DATA) throw new Error(`a DATA frame was cut short by ${JSON.stringify(more && { type: more.type, id: more.id })}`);
    slices.push(more.payload);
    got += more.payload.length;
  }
  return { ...first, payload: Buffer.concat(slices) };
}

test('frames cut at every byte come out whole, in order, and a clean close reads as the end', async (t) => {
  const { near, far } = await loopbackPair(t);
  far.setNoDelay(true);
  const channel = new FrameChannel(near, { maxFrameBytes: LIMIT });
  const data = randomBytes(300);
  const digest = Buffer.from(sha256(data), 'hex');
  const stream = Buffer.concat([
    encodeJsonFrame(FrameType.HELLO, 0, { hello: 'é, in two bytes' }),
    encodeJsonFrame(FrameType.REQUEST, 7, { op: 'put', path: '/a' }),
    encodeFrame(FrameType.DATA, 7, data),
    encodeEnd(7, digest),
  ]);
  const sending = (async () => {
    for (let offset = 0; offset < stream.length; offset++) await writeNow(far, stream.subarray(offset, offset + 1));
    far.end();
  })();
  const hello = await nextWhole(channel);
  t.like(hello, { type: FrameType.HELLO, id: 0 });
  t.deepEqual(hello && parseJsonPayload(hello), { hello: 'é, in two bytes' });
  const request = await nextWhole(channel);
  t.deepEqual(request && { type: request.type, id: request.id, body: parseJsonPayload(request) }, { type: FrameType.REQUEST, id: 7, body: { op: 'put', path: '/a' } });
  const received = await nextWhole(channel, data.length);
  t.like(received, { type: FrameType.DATA, id: 7 });
  t.true(received?.payload.equals(data), 'the DATA payload, joined from its slices');
  const end = await channel.next();
  t.true(end?.type === FrameType.END && end.payload.equals(digest));
  await sending;
  t.is(await channel.next(), undefined, 'the peer closed on a frame boundary');
});

test('a frame announced larger than the limit is refused at its header; a raised limit admits it', async (t) => {
  const { near, far } = await loopbackPair(t);
  const channel = new FrameChannel(near, { maxFrameBytes: LIMIT });
  // Only the header is sent: the refusal must not wait for a payload that never comes.
  await writeNow(far, encodeHeader(FrameType.REQUEST, 1, LIMIT + 1));
  const refused = await refusal(channel.next());
  t.is(refused.code, 'BAD_FRAME');
  t.regex(refused.message, new RegExp(`${LIMIT + 1} bytes exceeds the limit of ${LIMIT}`));

  const other = await loopbackPair(t);
  const raised = new FrameChannel(other.near, { maxFrameBytes: LIMIT });
  await writeNow(other.far, encodeJsonFrame(FrameType.HELLO, 0, {}));
  t.like(await raised.next(), { type: FrameType.HELLO });
  raised.setMaxFrameBytes(4 * LIMIT);
  const big = randomBytes(2 * LIMIT);
  await writeNow(other.far, encodeFrame(FrameType.DATA, 3, big));
  t.true((await nextWhole(raised, big.length))?.payload.equals(big), 'a frame under the raised limit arrives');
});

test('a connection closed in the middle of a frame is CONNECTION_LOST, not a clean end', async (t) => {
  for (const cut of [4, 9, 20]) {
    const { near, far } = await loopbackPair(t);
    const channel = new FrameChannel(near, { maxFrameBytes: LIMIT });
    const frame = encodeJsonFrame(FrameType.REQUEST, 1, { op: 'stat', path: '/somewhere' });
    far.end(frame.subarray(0, cut));
    const lost = await refusal(channel.next());
    t.is(lost.code, 'CONNECTION_LOST', `cut after ${cut} bytes`);
    t.regex(lost.message, /in the middle of a frame/);
  }
});

test('a peer that stops reading holds the sender back: sendData waits for drain and keeps at most about a chunk queued', async (t) => {
  const { near, far } = await loopbackPair(t);
  const sender = new FrameChannel(near, { maxFrameBytes: LIMIT });
  far.pause();
  const data = randomBytes(48 * MiB);
  let done = false;
  const sending = sender.sendData(5, data).finally(() => (done = true));
  await sleep(HELD_MS);
  t.false(done, 'the send is still waiting while the peer does not read');
  t.true(near.writableLength <= 2 * (DATA_CHUNK_BYTES + 9), `the sender queued ${near.writableLength} bytes in memory`);

  const receiver = new FrameChannel(far, { maxFrameBytes: 2 * MiB });
  const received: Buffer[] = [];
  let got = 0;
  while (got < data.length) {
    const frame = await receiver.next();
    if (frame?.type !== FrameType.DATA || frame.id !== 5) throw new Error('expected DATA for request 5');
    received.push(Buffer.from(frame.payload));
    got += frame.payload.length;
  }
  t.true(await sending, 'sendData says it had to wait for the socket to drain');
  t.true(Buffer.concat(received).equals(data), 'every byte arrives, in order');
});

test('a channel not asked for its next frame stops reading, so TCP holds the peer back', async (t) => {
  const { near, far } = await loopbackPair(t);
  const channel = new FrameChannel(near, { maxFrameBytes: 2 * MiB });
  const frame = encodeFrame(FrameType.DATA, 9, randomBytes(MiB));
  const total = 256;
  let sent = 0;
  let stopped = false;
  const sending = (async () => {
    while (sent < total && !stopped) {
      if (!far.write(frame)) await once(far, 'drain');
      sent++;
    }
  })();
  t.teardown(() => {
    stopped = true;
  });
  const first = await channel.next();
  t.like(first, { type: FrameType.DATA, id: 9 }, 'the first slice arrives');
  // The channel is not asked again: the peer must get stuck once the socket buffers are full.
  let before = -1;
  while (sent !== before) {
    before = sent;
    await sleep(HELD_MS);
  }
  t.log(`the peer got ${sent} MiB ahead of a channel that read one slice`);
  t.true(sent < 64, `the peer sent ${sent} of ${total} MiB to a channel that was not reading`);

  // Asked again, the channel reads on and the peer finishes.
  let bytes = first?.payload.length ?? 0;
  while (bytes < total * MiB) {
    const next = await channel.next();
    if (next?.type !== FrameType.DATA) throw new Error(`the stream ended after ${bytes} bytes`);
    bytes += next.payload.length;
  }
  await sending;
  t.is(sent, total, 'everything was sent once the channel read again');
});

test('sendData calls onWritten only once the socket has let go of the bytes, not while a paused peer leaves them queued', async (t) => {
  const { near, far } = await loopbackPair(t);
  const sender = new FrameChannel(near, { maxFrameBytes: LIMIT });
  far.pause();
  const data = randomBytes(32 * MiB);
  let written = false;
  const released = new Promise<void>((resolve) => {
    void sender.sendData(6, data, () => {
      written = true;
      resolve();
    });
  });
  await sleep(HELD_MS);
  t.false(written, 'the bytes are still queued while the peer does not read');

  const receiver = new FrameChannel(far, { maxFrameBytes: 2 * MiB });
  let got = 0;
  while (got < data.length) {
    const frame = await receiver.next();
    if (frame?.type !== FrameType.DATA || frame.id !== 6) throw new Error('expected DATA for request 6');
    got += frame.payload.length;
  }
  await withDeadline(released, REFUSAL_MS);
  t.true(written, 'onWritten ran once every byte had left');
});
