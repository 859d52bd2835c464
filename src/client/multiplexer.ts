/**
 * Many requests in flight on one connection. Requests are written one at a time
 * in call order (an upload's data right behind its request) and their answers are
 * routed back by request id, so many small files share one connection without a
 * round trip each. A lost connection fails every request still open.
 */

import { FerryError, ferryError } from '../protocol/errors.js';
import { FrameType, parseJsonPayload, type Frame } from '../protocol/frames.js';
import { parseErrorMessage, type Request } from '../protocol/messages.js';
import type { FrameChannel } from '../transport/channel.js';

/** How one request reacts to the frames answering it; true when it is complete. */
type FrameHandler = (frame: Frame) => Promise<boolean> | boolean;

interface Pending {
  handle: FrameHandler;
  fail(error: FerryError): void;
}

export function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: FerryError) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // Rejections are observed by whoever awaits the request.
  return { promise, resolve, reject };
}

export function serverError(frame: Frame): FerryError {
  const { code, message } = parseErrorMessage(parseJsonPayload(frame));
  return ferryError(code, message);
}

/** A failure from reading an answer, as the request's own failure. */
function answerFailure(error: unknown): FerryError {
  return error instanceof FerryError ? error : ferryError('BAD_FRAME', `the server's answer could not be read: ${(error as Error).message}`, error);
}

export class Multiplexer {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private writing: Promise<unknown> = Promise.resolve();
  private brokenBy: FerryError | undefined;
  /** Settles once the connection is closed and every request has been failed or answered. */
  readonly finished: Promise<void>;

  constructor(
    readonly channel: FrameChannel,
    /** The server as `HOST:PORT`, for messages. */
    readonly address: string,
  ) {
    channel.socket.on('error', () => undefined); // Surfaces through the read loop.
    this.finished = this.readLoop();
  }

  /** Why the connection is unusable, once it is. */
  get broken(): FerryError | undefined {
    return this.brokenBy;
  }

  private async readLoop(): Promise<void> {
    try {
      for (;;) {
        const frame = await this.channel.next();
        if (frame === undefined) break;
        if (frame.id === 0 && frame.type === FrameType.ERROR) throw serverError(frame);
        const pending = this.pending.get(frame.id);
        if (pending === undefined) throw ferryError('BAD_FRAME', `the server answered request ${frame.id}, which is not open`);
        if (await pending.handle(frame)) this.pending.delete(frame.id);
      }
      this.shutDown(ferryError('CONNECTION_LOST', `${this.address} closed the connection`));
    } catch (error) {
      this.shutDown(error instanceof FerryError ? error : ferryError('CONNECTION_LOST', (error as Error).message, error));
    }
  }

  /** Fails every open request with `error` (the first reason given wins) and closes the connection. */
  shutDown(error: FerryError): void {
    this.brokenBy ??= error;
    for (const pending of this.pending.values()) pending.fail(this.brokenBy);
    this.pending.clear();
    this.channel.destroy();
  }

  /** Runs `write` after every earlier request has been written, so frames never interleave. */
  exclusive<T>(write: () => Promise<T>): Promise<T> {
    const turn = this.writing.then(write);
    this.writing = turn.catch(() => undefined);
    return turn;
  }

  /** Opens a request id whose answering frames go to `handle`. */
  open(handle: FrameHandler, fail: (error: FerryError) => void): number {
    if (this.brokenBy) throw this.brokenBy;
    const id = this.nextId++;
    this.pending.set(id, { handle, fail });
    return id;
  }

  /** Drops a request that was never sent: the server never hears of it. */
  forget(id: number): void {
    this.pending.delete(id);
  }

  /**
   * A request answered by one OK, read by `parse` (after any PART frames, each read
   * by `onPart`). An answer that cannot be read fails this request alone: its frames
   * are still taken up to the end, so the connection stays usable.
   */
  async call<T>(request: Request, parse: (answer: unknown) => T, onPart?: (part: unknown) => void): Promise<T> {
    const answer = deferred<T>();
    let unreadable: FerryError | undefined;
    const id = this.open((frame) => {
      if (frame.type === FrameType.PART && onPart) {
        if (unreadable === undefined) {
          try {
            onPart(parseJsonPayload(frame));
          } catch (error) {
            unreadable = answerFailure(error);
          }
        }
        return false;
      }
      if (frame.type === FrameType.OK) {
        try {
          if (unreadable) throw unreadable;
          answer.resolve(parse(parseJsonPayload(frame)));
        } catch (error) {
          answer.reject(answerFailure(error));
        }
      } else if (frame.type === FrameType.ERROR) answer.reject(serverError(frame));
      else answer.reject(ferryError('BAD_FRAME', `unexpected frame type ${frame.type} for a ${request.op} request`));
      return true;
    }, answer.reject);
    await this.exclusive(() => this.channel.sendJson(FrameType.REQUEST, id, request)).catch(answer.reject);
    return answer.promise;
  }
}
