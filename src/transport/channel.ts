/**
 * A framed channel over one socket, used by both the server session and the
 * client. Reading is pull-based (`next()`), so a handler that does not ask for
 * the next frame leaves the socket paused and TCP applies backpressure; writing
 * waits for 'drain' whenever the socket's buffer is full.
 */

import type { Socket } from 'node:net';
import { withDeadline } from '../io/deadline.js';
import { FerryError, ferryError, systemErrorCode } from '../protocol/errors.js';
import {
  DATA_CHUNK_BYTES,
  FrameDecoder,
  FrameType,
  encodeEnd,
  encodeHeader,
  encodeJsonFrame,
  type DecoderLimits,
  type Frame,
} from '../protocol/frames.js';

/** OpenSSL's messages are long and cryptic; a damaged TLS record is said plainly. */
function describeBreak(error: unknown): string {
  const code = systemErrorCode(error) ?? '';
  if (code.startsWith('ERR_SSL_')) return `TLS refused data that was damaged or altered on the way (${code}); try again, and check the network if it keeps happening`;
  return (error as Error).message;
}

export class FrameChannel {
  private readonly decoder: FrameDecoder;
  private readonly chunks: AsyncIterator<Buffer>;
  /** Frames of the last chunk, decoded lazily so a bad frame fails only when reached. */
  private pending: Iterator<Frame> | undefined;
  private closed = false;
  private corked = false;

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

  /** Changes the largest frame accepted from here on. */
  setMaxFrameBytes(bytes: number): void {
    this.decoder.setMaxFrameBytes(bytes);
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
        throw ferryError('CONNECTION_LOST', `the connection broke: ${describeBreak(error)}`, error);
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

  /**
   * Sends bytes of a transfer, split into DATA frames of at most DATA_CHUNK_BYTES.
   * Resolves true when it had to wait for the socket to drain (the event loop ran).
   * `onWritten` runs once the socket no longer holds `bytes`: only then may the caller
   * reuse that memory, since a write can stay queued (corked, or behind TLS) after this
   * resolves. When the connection breaks it may never run: the memory is then dropped.
   */
  async sendData(id: number, bytes: Buffer, onWritten?: () => void): Promise<boolean> {
    let waited = false;
    if (bytes.length === 0) onWritten?.();
    for (let offset = 0; offset < bytes.length; offset += DATA_CHUNK_BYTES) {
      this.checkOpen();
      const chunk = bytes.subarray(offset, offset + DATA_CHUNK_BYTES);
      const last = offset + DATA_CHUNK_BYTES >= bytes.length;
      this.socket.write(encodeHeader(FrameType.DATA, id, chunk.length));
      // Writes complete in order, so the last one's callback means all of `bytes` is released.
      const flowing = last && onWritten ? this.socket.write(chunk, () => onWritten()) : this.socket.write(chunk);
      if (!flowing) {
        await this.drained();
        waited = true;
      }
    }
    return waited;
  }

  /**
   * Sends a whole upload at once: its request, its data (`size` bytes in `chunks`,
   * split into DATA frames of at most DATA_CHUNK_BYTES) and its END, in one write,
   * so a small file costs one system call rather than three or more.
   */
  async sendUpload(id: number, request: unknown, chunks: readonly Buffer[], size: number, digest: Buffer): Promise<void> {
    this.checkOpen();
    const socket = this.socket;
    socket.write(encodeJsonFrame(FrameType.REQUEST, id, request));
    let frameLeft = 0;
    for (const chunk of chunks) {
      for (let offset = 0; offset < chunk.length; ) {
        if (frameLeft === 0) {
          frameLeft = Math.min(DATA_CHUNK_BYTES, size);
          size -= frameLeft;
          socket.write(encodeHeader(FrameType.DATA, id, frameLeft));
        }
        const piece = chunk.subarray(offset, offset + frameLeft);
        socket.write(piece);
        offset += piece.length;
        frameLeft -= piece.length;
      }
    }
    if (!socket.write(encodeEnd(id, digest))) await this.drained();
  }

  async sendEnd(id: number, digest: Buffer): Promise<void> {
    await this.write(encodeEnd(id, digest));
  }

  /**
   * Checks the socket is open, and corks it until the end of this tick, so frames
   * written in the same tick (the answers of many pipelined requests, a request
   * and its data) leave in one system call rather than one each.
   */
  private checkOpen(): void {
    if (this.closed || this.socket.destroyed) throw ferryError('CONNECTION_LOST', 'the connection is closed');
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(this.uncork);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  private async write(buffer: Buffer): Promise<void> {
    this.checkOpen();
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

  /**
   * Closes the connection in order: sends what is queued and our end, then reads
   * and drops whatever the peer still sends until it closes its side too, for at
   * most `lingerMs`. Without the reading, a peer's end is never seen (reads are
   * pulled) and the socket stays half open, keeping a draining process alive;
   * closing with its bytes unread instead would reset the connection, and a reset
   * can discard answers the peer has not read yet.
   */
  async close(lingerMs: number): Promise<void> {
    if (!this.socket.destroyed) {
      await this.end();
      await withDeadline(this.discardUntilEnd(), lingerMs);
    }
    this.destroy();
  }

  private async discardUntilEnd(): Promise<void> {
    try {
      while (!(await this.chunks.next()).done);
    } catch {
      // A broken connection is closed all the same.
    }
  }

  destroy(error?: Error): void {
    this.socket.destroy(error);
  }
}
