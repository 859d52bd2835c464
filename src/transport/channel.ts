/**
 * A framed channel over one socket, used by both the server session and the
 * client. Reading is pull-based (`next()`), so a handler that does not ask for
 * the next frame leaves the socket paused and TCP applies backpressure; writing
 * waits for 'drain' whenever the socket's buffer is full.
 */

import type { Socket } from 'node:net';
import { FerryError, ferryError } from '../protocol/errors.js';
import {
  DATA_CHUNK_BYTES,
  FrameDecoder,
  FrameType,
  encodeHeader,
  encodeJsonFrame,
  type DecoderLimits,
  type Frame,
} from '../protocol/frames.js';

export class FrameChannel {
  private readonly decoder: FrameDecoder;
  private readonly chunks: AsyncIterator<Buffer>;
  /** Frames of the last chunk, decoded lazily so a bad frame fails only when reached. */
  private pending: Iterator<Frame> | undefined;
  private closed = false;

  constructor(
    readonly socket: Socket,
    limits: DecoderLimits,
  ) {
    this.decoder = new FrameDecoder(limits);
    this.chunks = socket[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    socket.once('close', () => {
      this.closed = true;
    });
  }

  /** The next frame, or undefined when the peer closed the connection cleanly. */
  async next(): Promise<Frame | undefined> {
    for (;;) {
      const decoded = this.pending?.next();
      if (decoded && !decoded.done) return decoded.value;
      let chunk: IteratorResult<Buffer>;
      try {
        chunk = await this.chunks.next();
      } catch (error) {
        if (error instanceof FerryError) throw error;
        throw ferryError('CONNECTION_LOST', `the connection broke: ${(error as Error).message}`, error);
      }
      if (chunk.done) {
        if (!this.decoder.atBoundary) throw ferryError('CONNECTION_LOST', 'the connection closed in the middle of a frame');
        return undefined;
      }
      this.pending = this.decoder.push(chunk.value);
    }
  }

  async sendJson(type: FrameType, id: number, message: unknown): Promise<void> {
    await this.write(encodeJsonFrame(type, id, message));
  }

  /** Sends bytes of a transfer, split into DATA frames of at most DATA_CHUNK_BYTES. */
  async sendData(id: number, bytes: Buffer): Promise<void> {
    const socket = this.socket;
    for (let offset = 0; offset < bytes.length; offset += DATA_CHUNK_BYTES) {
      if (this.closed || socket.destroyed) throw ferryError('CONNECTION_LOST', 'the connection is closed');
      const chunk = bytes.subarray(offset, offset + DATA_CHUNK_BYTES);
      socket.cork();
      socket.write(encodeHeader(FrameType.DATA, id, chunk.length));
      const flowing = socket.write(chunk);
      socket.uncork();
      if (!flowing) await this.drained();
    }
  }

  async sendEnd(id: number, digest: Buffer): Promise<void> {
    await this.write(Buffer.concat([encodeHeader(FrameType.END, id, digest.length), digest]));
  }

  private async write(buffer: Buffer): Promise<void> {
    if (this.closed || this.socket.destroyed) throw ferryError('CONNECTION_LOST', 'the connection is closed');
    if (!this.socket.write(buffer)) await this.drained();
  }

  private drained(): Promise<void> {
    const socket = this.socket;
    return new Promise((resolve, reject) => {
      const onDrain = (): void => {
        socket.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        socket.off('drain', onDrain);
        reject(ferryError('CONNECTION_LOST', 'the connection closed while sending'));
      };
      socket.once('drain', onDrain);
      socket.once('close', onClose);
    });
  }

  /** Sends what is queued, then closes our side. */
  async end(): Promise<void> {
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => this.socket.end(resolve));
  }

  destroy(error?: Error): void {
    this.socket.destroy(error);
  }
}
