/**
 * Frame layout and a streaming decoder. Pure: no sockets, no files.
 *
 * Every frame is a 9-byte header followed by its payload:
 *   u32 payload length | u8 frame type | u32 request id   (big-endian)
 * Control frames carry UTF-8 JSON; DATA carries raw bytes; END carries a raw
 * 32-byte SHA-256. DATA payloads are handed out as slices of the incoming chunks
 * as they arrive, so a large transfer is never copied into frame-sized buffers.
 */

import { ferryError } from './errors.js';

export const HEADER_BYTES = 9;
export const SHA256_BYTES = 32;
/** DATA frames carry at most this many bytes, so every peer can accept them. */
export const DATA_CHUNK_BYTES = 1024 * 1024;
/** The smallest frame limit a peer may announce. */
export const MIN_FRAME_LIMIT = DATA_CHUNK_BYTES + HEADER_BYTES;
/**
 * Frames a server accepts before login: enough for a HELLO and a login request,
 * so a stranger can make it allocate a few KiB per connection, not megabytes.
 */
export const PRE_AUTH_FRAME_LIMIT = 4 * 1024;

export const FrameType = {
  HELLO: 0x01,
  WELCOME: 0x02,
  REQUEST: 0x10,
  OK: 0x11,
  ERROR: 0x12,
  PART: 0x13,
  DATA: 0x20,
  END: 0x21,
} as const;

export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const KNOWN_TYPES = new Set<number>(Object.values(FrameType));

/** A decoded frame. For DATA, `payload` may be one slice of a longer frame. */
export interface Frame {
  type: FrameType;
  id: number;
  payload: Buffer;
}

export function encodeHeader(type: FrameType, id: number, payloadLength: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32BE(payloadLength, 0);
  header.writeUInt8(type, 4);
  header.writeUInt32BE(id, 5);
  return header;
}

export function encodeFrame(type: FrameType, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([encodeHeader(type, id, payload.length), payload]);
}

export function encodeEnd(id: number, digest: Buffer): Buffer {
  return encodeFrame(FrameType.END, id, digest);
}

export function encodeJsonFrame(type: FrameType, id: number, message: unknown): Buffer {
  return encodeFrame(type, id, Buffer.from(JSON.stringify(message), 'utf8'));
}

export function parseJsonPayload(frame: Frame): unknown {
  try {
    return JSON.parse(frame.payload.toString('utf8'));
  } catch {
    throw ferryError('BAD_FRAME', `frame ${frame.type} for request ${frame.id} does not hold valid JSON`);
  }
}

export interface DecoderLimits {
  /** Largest payload accepted for any frame. */
  maxFrameBytes: number;
}

/**
 * Turns a byte stream, cut anywhere, into frames. Control frames are emitted whole;
 * a DATA frame is emitted as one or more slices whose concatenation is its payload.
 * A malformed header throws a BAD_FRAME FerryError; after that the decoder is spent.
 */
export class FrameDecoder {
  private readonly header = Buffer.allocUnsafe(HEADER_BYTES);
  private headerFill = 0;
  private type: FrameType = FrameType.DATA;
  private id = 0;
  private remaining = 0;
  private inFrame = false;
  private control: Buffer | undefined;
  private controlFill = 0;

  private maxFrameBytes: number;

  constructor(limits: DecoderLimits) {
    this.maxFrameBytes = limits.maxFrameBytes;
  }

  /** Changes the limit for frames whose header is yet to come (a server raises it after login). */
  setMaxFrameBytes(bytes: number): void {
    this.maxFrameBytes = bytes;
  }

  /** True when the decoder sits exactly on a frame boundary. */
  get atBoundary(): boolean {
    return !this.inFrame && this.headerFill === 0;
  }

  *push(chunk: Buffer): Generator<Frame> {
    let offset = 0;
    while (offset < chunk.length) {
      if (!this.inFrame) {
        const take = Math.min(HEADER_BYTES - this.headerFill, chunk.length - offset);
        chunk.copy(this.header, this.headerFill, offset, offset + take);
        this.headerFill += take;
        offset += take;
        if (this.headerFill < HEADER_BYTES) return;
        yield* this.startFrame();
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - offset);
      const piece = chunk.subarray(offset, offset + take);
      offset += take;
      this.remaining -= take;
      if (this.type === FrameType.DATA) {
        if (this.remaining === 0) this.inFrame = false;
        yield { type: this.type, id: this.id, payload: piece };
        continue;
      }
      piece.copy(this.control as Buffer, this.controlFill);
      this.controlFill += take;
      if (this.remaining === 0) yield this.finishControl();
    }
  }

  private *startFrame(): Generator<Frame> {
    this.headerFill = 0;
    const length = this.header.readUInt32BE(0);
    const type = this.header.readUInt8(4);
    this.id = this.header.readUInt32BE(5);
    if (!KNOWN_TYPES.has(type)) {
      throw ferryError('BAD_FRAME', `unknown frame type 0x${type.toString(16).padStart(2, '0')}`);
    }
    if (length > this.maxFrameBytes) {
      throw ferryError('BAD_FRAME', `a frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`);
    }
    this.type = type as FrameType;
    if (this.type === FrameType.END && length !== SHA256_BYTES) {
      throw ferryError('BAD_FRAME', `an END frame must hold a ${SHA256_BYTES}-byte digest, not ${length} bytes`);
    }
    this.remaining = length;
    if (this.type === FrameType.DATA) {
      this.inFrame = length > 0;
      return;
    }
    this.control = Buffer.allocUnsafe(length);
    this.controlFill = 0;
    this.inFrame = true;
    if (length === 0) yield this.finishControl();
  }

  private finishControl(): Frame {
    const frame = { type: this.type, id: this.id, payload: this.control as Buffer };
    this.inFrame = false;
    this.control = undefined;
    return frame;
  }
}
