import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { FerryError } from '../../src/protocol/errors.js';
import {
  encodeFrame,
  encodeHeader,
  encodeJsonFrame,
  FrameDecoder,
  FrameType,
  HEADER_BYTES,
  parseJsonPayload,
  SHA256_BYTES,
  type Frame,
} from '../../src/protocol/frames.js';
import { ferryCodeOf, holds } from './property.js';

const FRAME_TYPES = Object.values(FrameType);
const KNOWN_TYPES = new Set<number>(FRAME_TYPES);
const LIMIT = 1024;

interface SentFrame {
  type: FrameType;
  id: number;
  payload: Buffer;
}

/** A frame as compared in assertions: hex payloads make failures readable. */
interface Seen {
  type: number;
  id: number;
  payload: string;
}

const seen = (frame: SentFrame | Frame): Seen => ({ type: frame.type, id: frame.id, payload: frame.payload.toString('hex') });

const bytes = (maxLength: number, minLength = 0) =>
  fc.uint8Array({ minLength, maxLength }).map((array) => Buffer.from(array));

// Request ids span the whole u32 range, including the values with the top bit set.
const requestId = fc.oneof(
  fc.tuple(fc.nat({ max: 0xffff }), fc.nat({ max: 0xffff })).map(([high, low]) => high * 0x10000 + low),
  fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff),
);

function payloadFor(type: FrameType): fc.Arbitrary<Buffer> {
  if (type === FrameType.END) return bytes(SHA256_BYTES, SHA256_BYTES);
  if (type === FrameType.DATA) return fc.oneof(bytes(0), bytes(300));
  return bytes(200);
}

const sentFrame: fc.Arbitrary<SentFrame> = fc
  .constantFrom(...FRAME_TYPES)
  .chain((type) => fc.record({ type: fc.constant(type), id: requestId, payload: payloadFor(type) }));

const frameSequence = fc.array(sentFrame, { maxLength: 12 });

const encodeAll = (frames: readonly SentFrame[]) => Buffer.concat(frames.map((f) => encodeFrame(f.type, f.id, f.payload)));

/** Cuts `data` at the given points (taken modulo its length; repeats make empty pieces). */
function cut(data: Buffer, points: readonly number[]): Buffer[] {
  const at = points.map((p) => p % (data.length + 1)).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const end of at) {
    pieces.push(data.subarray(start, end));
    start = end;
  }
  pieces.push(data.subarray(start));
  return pieces;
}

const cutPoints = fc.array(fc.nat(), { maxLength: 40 });

/**
 * Feeds the pieces and rebuilds whole frames: DATA slices are joined until the
 * decoder reports that the frame is complete (atBoundary right after the slice).
 */
function decodeFrames(pieces: readonly Buffer[], maxFrameBytes = LIMIT): { frames: Seen[]; emptySlices: number; atEnd: boolean } {
  const decoder = new FrameDecoder({ maxFrameBytes });
  const frames: Seen[] = [];
  let slices: Buffer[] = [];
  let emptySlices = 0;
  for (const piece of pieces) {
    for (const frame of decoder.push(piece)) {
      if (frame.type !== FrameType.DATA) {
        if (slices.length > 0) throw new Error(`a ${frame.type} frame arrived inside an unfinished DATA frame`);
        frames.push(seen(frame));
        continue;
      }
      if (frame.payload.length === 0) emptySlices++;
      slices.push(frame.payload);
      if (decoder.atBoundary) {
        frames.push({ type: frame.type, id: frame.id, payload: Buffer.concat(slices).toString('hex') });
        slices = [];
      }
    }
  }
  if (slices.length > 0) throw new Error('the stream ended inside a DATA frame');
  return { frames, emptySlices, atEnd: decoder.atBoundary };
}

/** Drops empty DATA and joins neighbouring DATA slices of one request: the bytes a consumer sees. */
function normalise(frames: readonly Frame[]): Seen[] {
  const out: Seen[] = [];
  for (const frame of frames) {
    if (frame.type === FrameType.DATA && frame.payload.length === 0) continue;
    const last = out.at(-1);
    if (frame.type === FrameType.DATA && last?.type === FrameType.DATA && last.id === frame.id) {
      last.payload += frame.payload.toString('hex');
    } else {
      out.push(seen(frame));
    }
  }
  return out;
}

type Outcome = { frames: Seen[]; error: string } | { frames: Seen[]; atBoundary: boolean };

/** What a consumer observes when the pieces are fed in order: frames, then the end state or the error code. */
function outcome(pieces: readonly Buffer[], maxFrameBytes: number): Outcome {
  const decoder = new FrameDecoder({ maxFrameBytes });
  const frames: Frame[] = [];
  try {
    for (const piece of pieces) for (const frame of decoder.push(piece)) frames.push(frame);
  } catch (error) {
    if (!(error instanceof FerryError)) throw error;
    return { frames: normalise(frames), error: error.code };
  }
  return { frames: normalise(frames), atBoundary: decoder.atBoundary };
}

function expectBadFrame(t: ExecutionContext, pieces: readonly Buffer[], maxFrameBytes = LIMIT, label?: string): void {
  const decoder = new FrameDecoder({ maxFrameBytes });
  const error = t.throws(
    () => {
      for (const piece of pieces) for (const frame of decoder.push(piece)) void frame;
    },
    { instanceOf: FerryError },
    label,
  );
  t.is(error?.code, 'BAD_FRAME', label);
}

test('any sequence of frames cut at any points decodes to the same frames, DATA slices joining up to each payload', (t) => {
  holds(
    t,
    fc.property(frameSequence, cutPoints, (sent, points) => {
      const { frames, emptySlices, atEnd } = decodeFrames(cut(encodeAll(sent), points));
      const expected = sent.filter((f) => !(f.type === FrameType.DATA && f.payload.length === 0)).map(seen);
      assert.deepEqual(frames, expected);
      assert.equal(emptySlices, 0, 'no DATA slice is empty');
      assert.ok(atEnd, 'the decoder ends at a boundary');
      return true;
    }),
  );
});

test('a stream fed one byte at a time decodes to the same frames as the stream fed whole', (t) => {
  holds(
    t,
    fc.property(frameSequence, (sent) => {
      const data = encodeAll(sent);
      const oneByOne = [...data].map((byte) => Buffer.from([byte]));
      assert.deepEqual(decodeFrames(oneByOne).frames, decodeFrames([data]).frames);
      return true;
    }),
    { numRuns: 100 },
  );
});

test('control frames are emitted whole, however their bytes are cut', (t) => {
  holds(
    t,
    fc.property(
      fc.constantFrom(FrameType.HELLO, FrameType.WELCOME, FrameType.REQUEST, FrameType.OK, FrameType.ERROR, FrameType.PART, FrameType.END),
      requestId,
      cutPoints,
      (type, id, points) => {
        const payload = Buffer.alloc(type === FrameType.END ? SHA256_BYTES : 150, 0x7b);
        const decoder = new FrameDecoder({ maxFrameBytes: LIMIT });
        const frames = cut(encodeFrame(type, id, payload), points).flatMap((piece) => [...decoder.push(piece)]);
        assert.deepEqual(frames.map(seen), [seen({ type, id, payload })]);
        return true;
      },
    ),
  );
});

test('a DATA payload is handed out as a view of the incoming chunk rather than a copy', (t) => {
  const chunk = encodeFrame(FrameType.DATA, 9, Buffer.from('large transfers are not copied'));
  const [frame] = [...new FrameDecoder({ maxFrameBytes: LIMIT }).push(chunk)];
  t.is(frame?.payload.buffer, chunk.buffer);
  t.is(frame?.payload.byteOffset, chunk.byteOffset + HEADER_BYTES);
});

test('a zero-length DATA frame yields nothing and leaves the decoder at a boundary', (t) => {
  const decoder = new FrameDecoder({ maxFrameBytes: LIMIT });
  t.deepEqual([...decoder.push(encodeFrame(FrameType.DATA, 3))], []);
  t.true(decoder.atBoundary);
  const next = [...decoder.push(encodeFrame(FrameType.OK, 3, Buffer.from('{}')))];
  t.deepEqual(next.map(seen), [{ type: FrameType.OK, id: 3, payload: Buffer.from('{}').toString('hex') }]);
});

test('any byte string decodes the same whether fed whole or in pieces, or is refused with BAD_FRAME either way', (t) => {
  // Valid streams with some bytes overwritten or cut short reach every header check; pure noise reaches the rest.
  const damagedStream = fc
    .tuple(frameSequence, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }), fc.nat())
    .map(([sent, edits, keep]) => {
      const data = encodeAll(sent);
      for (const [at, value] of edits) if (data.length > 0) data[at % data.length] = value;
      return data.subarray(0, keep % (data.length + 1));
    });
  const stream = fc.oneof(bytes(400), damagedStream, frameSequence.map(encodeAll));
  holds(
    t,
    fc.property(stream, cutPoints, fc.integer({ min: 0, max: 400 }), (data, points, maxFrameBytes) => {
      const whole = outcome([data], maxFrameBytes);
      const inPieces = outcome(cut(data, points), maxFrameBytes);
      assert.deepEqual(inPieces, whole);
      if ('error' in whole) assert.equal(whole.error, 'BAD_FRAME');
      return true;
    }),
    { numRuns: 500 },
  );
});

test('a header announcing more than maxFrameBytes is refused with BAD_FRAME before any payload arrives', (t) => {
  for (const type of FRAME_TYPES.filter((type) => type !== FrameType.END)) {
    expectBadFrame(t, [encodeHeader(type, 1, LIMIT + 1)], LIMIT, `type ${type}, one byte over`);
    expectBadFrame(t, [encodeHeader(type, 1, 0xffffffff)], LIMIT, `type ${type}, 4 GiB`);
  }
  expectBadFrame(t, [encodeHeader(FrameType.END, 1, SHA256_BYTES)], SHA256_BYTES - 1, 'END over a limit below 32 bytes');
});

test('a frame of exactly maxFrameBytes is accepted', (t) => {
  for (const type of FRAME_TYPES.filter((type) => type !== FrameType.END)) {
    const payload = Buffer.alloc(LIMIT, type);
    const { frames } = decodeFrames([encodeFrame(type, 5, payload)]);
    t.deepEqual(frames, [seen({ type, id: 5, payload })], `type ${type}`);
  }
});

test('every frame type outside the protocol is refused with BAD_FRAME', (t) => {
  for (let type = 0; type <= 0xff; type++) {
    if (KNOWN_TYPES.has(type)) continue;
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt8(type, 4);
    expectBadFrame(t, [header], LIMIT, `type 0x${type.toString(16)}`);
  }
});

test('an END frame whose payload is not exactly a 32-byte digest is refused with BAD_FRAME', (t) => {
  for (let length = 0; length <= 2 * SHA256_BYTES; length++) {
    if (length === SHA256_BYTES) continue;
    expectBadFrame(t, [encodeFrame(FrameType.END, 2, Buffer.alloc(length))], LIMIT, `${length} bytes`);
  }
  const digest = Buffer.alloc(SHA256_BYTES, 0xab);
  t.deepEqual(decodeFrames([encodeFrame(FrameType.END, 2, digest)]).frames, [seen({ type: FrameType.END, id: 2, payload: digest })]);
});

test('a bad header is refused even when it arrives split across pieces after valid frames', (t) => {
  const valid = encodeFrame(FrameType.REQUEST, 1, Buffer.from('{"op":"quit"}'));
  const bad = encodeHeader(FrameType.OK, 2, LIMIT + 1);
  const data = Buffer.concat([valid, bad]);
  for (let split = 0; split <= data.length; split++) {
    expectBadFrame(t, [data.subarray(0, split), data.subarray(split)], LIMIT, `split at ${split}`);
  }
});

test('a fresh decoder is at a boundary; a partial header or payload is not; a finished frame is', (t) => {
  const decoder = new FrameDecoder({ maxFrameBytes: LIMIT });
  const feed = (piece: Buffer) => [...decoder.push(piece)];
  t.true(decoder.atBoundary);
  const frame = encodeFrame(FrameType.DATA, 4, Buffer.from('abc'));
  feed(frame.subarray(0, 1));
  t.false(decoder.atBoundary, 'one header byte in');
  feed(frame.subarray(1, HEADER_BYTES));
  t.false(decoder.atBoundary, 'header complete, payload pending');
  feed(frame.subarray(HEADER_BYTES, HEADER_BYTES + 2));
  t.false(decoder.atBoundary, 'payload partly in');
  feed(frame.subarray(HEADER_BYTES + 2));
  t.true(decoder.atBoundary, 'frame complete');
});

test('after each piece, atBoundary is true exactly when the bytes fed so far end on a frame boundary', (t) => {
  holds(
    t,
    fc.property(frameSequence, cutPoints, (sent, points) => {
      const ends = new Set<number>([0]);
      let end = 0;
      for (const frame of sent) ends.add((end += HEADER_BYTES + frame.payload.length));
      const decoder = new FrameDecoder({ maxFrameBytes: LIMIT });
      let fed = 0;
      for (const piece of cut(encodeAll(sent), points)) {
        for (const frame of decoder.push(piece)) void frame;
        fed += piece.length;
        assert.equal(decoder.atBoundary, ends.has(fed), `after ${fed} bytes`);
      }
      return true;
    }),
  );
});

test('any JSON value sent with encodeJsonFrame comes back from parseJsonPayload', (t) => {
  holds(
    t,
    fc.property(fc.jsonValue(), requestId, (value, id) => {
      const decoder = new FrameDecoder({ maxFrameBytes: 1024 * 1024 });
      const frames = [...decoder.push(encodeJsonFrame(FrameType.REQUEST, id, value))];
      assert.equal(frames.length, 1);
      assert.deepEqual(parseJsonPayload(frames[0] as Frame), JSON.parse(JSON.stringify(value)));
      return true;
    }),
  );
});

test('parseJsonPayload refuses a payload that is not JSON with BAD_FRAME', (t) => {
  const notJson = ['', ' ', '{', '{"a":1', "{'a':1}", 'undefined', 'NaN', '[1,]', '{"a":1} x', '<EOF>', '\u0000'];
  const payloads = [...notJson.map((s) => Buffer.from(s)), Buffer.from([0xff, 0xfe, 0x00])];
  for (const payload of payloads) {
    const error = t.throws(() => parseJsonPayload({ type: FrameType.REQUEST, id: 1, payload }), { instanceOf: FerryError });
    t.is(error?.code, 'BAD_FRAME', JSON.stringify(payload.toString()));
  }
});

test('parseJsonPayload refuses any text that JSON.parse rejects with BAD_FRAME, never another error', (t) => {
  const isJson = (text: string) => {
    try {
      JSON.parse(text);
      return true;
    } catch {
      return false;
    }
  };
  holds(
    t,
    fc.property(fc.string({ unit: 'binary', maxLength: 60 }).filter((s) => !isJson(s)), (text) => {
      assert.equal(ferryCodeOf(() => parseJsonPayload({ type: FrameType.OK, id: 0, payload: Buffer.from(text) })), 'BAD_FRAME');
      return true;
    }),
  );
});
