/**
 * A raw protocol connection for tests that speak to the server frame by frame,
 * the way a second client (or an attacker) would. It records every frame the
 * server sends (a DATA frame joined back from the slices the decoder hands out),
 * when the connection opened and closed, and when it last sent; every wait ends on
 * an event or a deadline, never after a fixed sleep.
 */

import type { ExecutionContext } from 'ava';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { EXPIRED, withDeadline } from '../../src/io/deadline.js';
import { FrameDecoder, FrameType, type Frame } from '../../src/protocol/frames.js';

/** What a raw connection accepts from the server (the library client's limit). */
const MAX_FRAME_BYTES = 16 * 1024 * 1024;
const WAIT_MS = 30_000;

const FRAME_NAMES = new Map<number, string>(Object.entries(FrameType).map(([name, code]) => [code, name]));

export function frameName(type: number): string {
  return FRAME_NAMES.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`;
}

function errorCode(frame: Frame): string | undefined {
  if (frame.type !== FrameType.ERROR) return undefined;
  return (JSON.parse(frame.payload.toString('utf8')) as { code?: string }).code;
}

/** A frame as assertions print it: `WELCOME id 0`, `ERROR id 0 TIMEOUT`. */
export function describeFrame(frame: Frame): string {
  const code = errorCode(frame);
  return `${frameName(frame.type)} id ${frame.id}${code ? ` ${code}` : ''}`;
}

interface RawOpenOptions {
  /** The address to connect from (127.0.0.0/8 gives a test many sources). */
  localAddress?: string;
  connectMs?: number;
}

export class RawConnection {
  /** Every frame the server sent, in order. */
  readonly frames: Frame[] = [];
  /** performance.now() when the TCP connection was up. */
  openedAt = 0;
  closedAt: number | undefined;
  /** performance.now() of the last write: the server cannot have heard from this client later. */
  lastSentAt = 0;
  bytesSent = 0;
  readonly closed: Promise<void>;
  /** A socket error or undecodable bytes from the server. */
  failure: Error | undefined;
  private readonly decoder = new FrameDecoder({ maxFrameBytes: MAX_FRAME_BYTES });
  private dataSlices: Buffer[] = [];
  /** How many of `frames` next() has handed out. */
  private taken = 0;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => {
      this.failure ??= error;
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAt = performance.now();
        this.wake();
        resolve();
      }),
    );
  }

  static async open(t: ExecutionContext, port: number, options: RawOpenOptions = {}): Promise<RawConnection> {
    const socket = connect({ host: '127.0.0.1', port, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    t.teardown(() => socket.destroy());
    const connection = new RawConnection(socket);
    const up = new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const connectMs = options.connectMs ?? WAIT_MS;
    if ((await withDeadline(up, connectMs)) === EXPIRED) throw new Error(`no TCP connection to port ${port} within ${connectMs} ms`);
    connection.openedAt = performance.now();
    return connection;
  }

  get isClosed(): boolean {
    return this.closedAt !== undefined;
  }

  /** Writes all `frames` with ONE socket write, the way a pipelining client would; nothing once closed. */
  send(...frames: Buffer[]): void {
    if (this.isClosed) return;
    const bytes = frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames);
    this.socket.write(bytes);
    this.bytesSent += bytes.length;
    this.lastSentAt = performance.now();
  }

  /** The next frame not yet taken; fails when none comes in time or the connection ends. */
  async next(what = 'the next frame', ms = WAIT_MS): Promise<Frame> {
    const deadline = performance.now() + ms;
    for (;;) {
      const frame = this.frames[this.taken];
      if (frame) {
        this.taken++;
        return frame;
      }
      if (this.failure) throw new Error(`the connection failed while waiting for ${what}: ${this.failure.message}`);
      if (this.isClosed) throw new Error(`the server closed the connection instead of sending ${what}`);
      await this.changeWithin(deadline, `timed out after ${ms} ms waiting for ${what}`);
    }
  }

  /** Waits until `count` frames arrived in all and returns the last; fails if the connection closes first or time runs out. */
  async frameCount(count: number, what: string, ms = 10_000): Promise<Frame> {
    const deadline = performance.now() + ms;
    while (this.frames.length < count) {
      if (this.isClosed) throw new Error(`the server closed the connection before ${what}; got ${this.summary()}`);
      await this.changeWithin(deadline, `no ${what} within ${ms} ms; got ${this.summary()}`);
    }
    return this.frames[count - 1] as Frame;
  }

  /** Waits for the server to close the connection; returns the frames next() has not taken. */
  async untilClosed(ms = WAIT_MS): Promise<Frame[]> {
    if (!(await this.closeWithin(ms))) throw new Error(`timed out after ${ms} ms waiting for the server to close the connection`);
    const rest = this.frames.slice(this.taken);
    this.taken = this.frames.length;
    return rest;
  }

  /** Waits for the close, at most `ms`; true when it came. */
  async closeWithin(ms: number): Promise<boolean> {
    return (await withDeadline(this.closed, ms)) !== EXPIRED;
  }

  summary(): string {
    return `[${this.frames.map(describeFrame).join(', ')}]`;
  }

  private receive(chunk: Buffer): void {
    try {
      for (const frame of this.decoder.push(chunk)) {
        if (frame.type !== FrameType.DATA) {
          this.frames.push(frame);
          continue;
        }
        // The decoder hands out DATA in slices (views of the socket's chunk); it is back on a boundary when the frame is whole.
        this.dataSlices.push(Buffer.from(frame.payload));
        if (!this.decoder.atBoundary) continue;
        this.frames.push({ ...frame, payload: Buffer.concat(this.dataSlices) });
        this.dataSlices = [];
      }
    } catch (error) {
      this.failure ??= error as Error;
      this.socket.destroy();
    }
    this.wake();
  }

  private async changeWithin(deadline: number, timeout: string): Promise<void> {
    const left = deadline - performance.now();
    if (left <= 0 || (await withDeadline(new Promise<void>((resolve) => this.waiters.push(resolve)), left)) === EXPIRED) throw new Error(timeout);
  }

  private wake(): void {
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}
