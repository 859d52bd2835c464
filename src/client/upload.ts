/**
 * Sending files: a known-size upload (read whole ahead of its turn when small,
 * streamed when large, continued when the server kept an interrupted one) and a
 * stream of unknown length. The server keeps a file only if its byte count and the
 * SHA-256 computed here while reading match what it received.
 */

import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError, ferryError } from '../protocol/errors.js';
import { FrameType, parseJsonPayload } from '../protocol/frames.js';
import { parsePutResult, parseResumeStatus, type PutResult, type ResumeStatus } from '../protocol/messages.js';
import { deferred, serverError, type Multiplexer } from './multiplexer.js';
import { DEFAULT_RETRIES, retryDelayMs } from './retry-policy.js';

export type ProgressListener = (bytesDone: number, bytesTotal: number) => void;

export interface UploadSource {
  size: number;
  /** A fresh stream of the bytes from `start` (default 0) up to `end` (exclusive; default size). */
  open(start?: number, end?: number): Readable;
  /**
   * For a small source: its bytes in one piece, read at once. It reads up to one byte
   * more than `size`, so a source that grew or shrank since it was sized is caught.
   */
  readAll?(): Buffer;
}

export interface UploadOptions {
  noClobber?: boolean;
  /** Ask the server to keep an interrupted upload, and continue one it kept. */
  resumable?: boolean;
  /** The file's modification time (ms since the epoch), for the server to keep. */
  mtime?: number;
  onProgress?: ProgressListener;
}

/** Uploads up to this size are read whole ahead of their turn to be sent... */
const WHOLE_UPLOAD_MAX_BYTES = 128 * 1024;
/** ...as long as the files read ahead hold no more than this in all (memory stays bounded). */
const READ_AHEAD_MAX_BYTES = 8 * 1024 * 1024;

function grewError(): FerryError {
  return ferryError('LOCAL_IO', 'the file grew while it was being sent; send it again');
}

function shrankError(): FerryError {
  return ferryError('LOCAL_IO', 'the file shrank while it was being sent; send it again');
}

function localReadFailure(error: unknown): FerryError {
  return error instanceof FerryError ? error : ferryError('LOCAL_IO', `cannot read the file: ${(error as Error).message}`, error);
}

/** Reads a small source whole, checking that it holds exactly the bytes it announced. */
function readWhole(source: UploadSource): Promise<Buffer[]> {
  const reading = (async () => {
    if (source.readAll) {
      const bytes = source.readAll();
      if (bytes.length > source.size) throw grewError();
      if (bytes.length < source.size) throw shrankError();
      return [bytes];
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of source.open(0) as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > source.size) throw grewError();
      chunks.push(chunk);
    }
    if (bytes !== source.size) throw shrankError();
    return chunks;
  })();
  reading.catch(() => undefined); // Observed in the upload's turn.
  return reading;
}

/** The uploads of one connection, which share its bound on bytes read ahead. */
export class Uploads {
  /** Bytes of small uploads read ahead of their turn to be sent. */
  private readAheadBytes = 0;

  constructor(private readonly mux: Multiplexer) {}

  /**
   * Sends `source` to `path`. A resumable upload first asks what the server already
   * holds and, when those bytes match the start of `source`, sends only the rest.
   */
  async upload(path: string, source: UploadSource, options: UploadOptions = {}): Promise<PutResult> {
    const start = options.resumable ? await this.resumePoint(path, source) : { offset: 0, prefix: createHash('sha256') };
    try {
      return await this.put(path, source, options, start.offset, start.prefix);
    } catch (error) {
      // The partial went away between the question and the put: send it all.
      if (start.offset > 0 && error instanceof FerryError && error.code === 'INTEGRITY') {
        return this.put(path, source, options, 0, createHash('sha256'));
      }
      throw error;
    }
  }

  /** Where a resumable upload can continue: the bytes the server holds, if they are ours. */
  private async resumePoint(path: string, source: UploadSource): Promise<{ offset: number; prefix: Hash }> {
    const status = await this.resumeStatus(path, source.size);
    const prefix = createHash('sha256');
    if (status.offset === 0 || status.offset > source.size) return { offset: 0, prefix };
    for await (const chunk of source.open(0, status.offset) as AsyncIterable<Buffer>) prefix.update(chunk);
    if (prefix.copy().digest('hex') !== status.prefixSha256) return { offset: 0, prefix: createHash('sha256') };
    return { offset: status.offset, prefix };
  }

  /**
   * Asks what the server holds, waiting while another connection still writes the
   * upload: after a network cut that is often our own earlier one, which the server
   * releases once it sees the cut (or its lease lapses), and only then can say how
   * much it kept.
   */
  private async resumeStatus(path: string, size: number): Promise<ResumeStatus> {
    for (let retry = 0; ; retry++) {
      try {
        return await this.mux.call({ op: 'resume', path, size }, parseResumeStatus);
      } catch (error) {
        if (!(error instanceof FerryError) || error.code !== 'BUSY' || retry >= DEFAULT_RETRIES) throw error;
        await sleep(retryDelayMs(retry));
      }
    }
  }

  /**
   * Opens the request id of an upload: its answer, and whether the server already
   * refused it (the sender stops and ENDs early, as the protocol allows).
   */
  private openUpload(): { id: number; answer: ReturnType<typeof deferred<PutResult>>; refused: () => boolean } {
    const answer = deferred<PutResult>();
    let refused = false;
    const id = this.mux.open((frame) => {
      if (frame.type === FrameType.OK) {
        try {
          answer.resolve(parsePutResult(parseJsonPayload(frame)));
        } catch (error) {
          answer.reject(error as FerryError);
        }
      } else {
        refused = true;
        answer.reject(frame.type === FrameType.ERROR ? serverError(frame) : ferryError('BAD_FRAME', `unexpected frame type ${frame.type} for an upload`));
      }
      return true;
    }, answer.reject);
    return { id, answer, refused: () => refused };
  }

  private async put(path: string, source: UploadSource, options: UploadOptions, offset: number, hash: Hash): Promise<PutResult> {
    const { id, answer, refused } = this.openUpload();
    let localFailure: FerryError | undefined;
    const prefixSha256 = offset > 0 ? hash.copy().digest('hex') : '';
    const request = {
      op: 'put',
      path,
      size: source.size,
      noClobber: options.noClobber ?? false,
      resumable: options.resumable ?? false,
      offset,
      prefixSha256,
      ...(options.mtime !== undefined ? { mtime: Math.trunc(options.mtime) } : {}),
    };
    // A small file is read now, while earlier requests are still being sent, so many
    // files' reads overlap; its turn then costs one write. A large one streams in its turn.
    const readAhead = offset === 0 && source.size <= WHOLE_UPLOAD_MAX_BYTES && this.readAheadBytes + source.size <= READ_AHEAD_MAX_BYTES;
    const whole = readAhead ? readWhole(source) : undefined;
    if (readAhead) this.readAheadBytes += source.size;
    const channel = this.mux.channel;
    await this.mux
      .exclusive(async () => {
        options.onProgress?.(offset, source.size);
        if (whole) {
          let chunks: Buffer[];
          try {
            chunks = await whole;
          } catch (error) {
            this.readAheadBytes -= source.size;
            // Nothing was sent: the request is dropped here, and the server never hears of it.
            localFailure = localReadFailure(error);
            this.mux.forget(id);
            answer.reject(localFailure);
            return;
          }
          for (const chunk of chunks) hash.update(chunk);
          this.readAheadBytes -= source.size;
          await channel.sendUpload(id, request, chunks, source.size, hash.copy().digest());
          options.onProgress?.(source.size, source.size);
          return;
        }
        await channel.sendJson(FrameType.REQUEST, id, request);
        const stream = source.open(offset);
        try {
          const sent = await this.sendChunks(id, stream as AsyncIterable<Buffer>, hash, {
            from: offset,
            refused,
            max: source.size,
            onSent: (done) => options.onProgress?.(done, source.size),
          });
          if (!refused() && sent !== source.size) throw shrankError();
        } catch (error) {
          if (error instanceof FerryError && error.code === 'CONNECTION_LOST') throw error;
          localFailure = localReadFailure(error);
        } finally {
          stream.destroy();
        }
        // END closes the data stream even when it is short; the server then refuses it.
        await channel.sendEnd(id, hash.copy().digest());
      })
      .catch(answer.reject);
    const result = await answer.promise.catch((error: FerryError) => {
      throw localFailure ?? error;
    });
    if (localFailure) throw localFailure;
    if (result.sha256 !== hash.digest('hex')) {
      throw ferryError('INTEGRITY', `the server stored ${path} with a different SHA-256 than was sent`);
    }
    return result;
  }

  /**
   * Sends an upload's chunks as DATA (folding them into `hash`) until they end or
   * the server refuses the upload; returns the byte count reached (from `from`).
   * `max`, when the size is known, catches a source that grew while being sent.
   */
  private async sendChunks(
    id: number,
    chunks: AsyncIterable<Buffer>,
    hash: Hash,
    options: { from: number; refused: () => boolean; max?: number; onSent: (sent: number) => void },
  ): Promise<number> {
    let sent = options.from;
    for await (const chunk of chunks) {
      if (options.refused()) break; // The server said no: stop reading, end the stream early.
      if (options.max !== undefined && sent + chunk.length > options.max) throw grewError();
      hash.update(chunk);
      const waited = await this.mux.channel.sendData(id, chunk);
      sent += chunk.length;
      options.onSent(sent);
      // Let the read loop run, so a refusal is seen even when neither the source nor the socket waits.
      if (!waited) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return sent;
  }

  /**
   * Sends a stream of unknown length (a pipe) to `path` with `putStream`: the size
   * is stated after the data. Nothing is kept if the connection is lost, and a
   * stream cannot be read twice: no resume. The caller checked the server takes it.
   */
  async uploadStream(path: string, input: AsyncIterable<Buffer>, options: { noClobber?: boolean; onProgress?: (bytesDone: number) => void } = {}): Promise<PutResult> {
    const { id, answer, refused } = this.openUpload();
    const hash = createHash('sha256');
    let localFailure: FerryError | undefined;
    const channel = this.mux.channel;
    await this.mux
      .exclusive(async () => {
        await channel.sendJson(FrameType.REQUEST, id, { op: 'putStream', path, noClobber: options.noClobber ?? false });
        let sent = 0;
        try {
          sent = await this.sendChunks(id, input, hash, {
            from: 0,
            refused,
            onSent: (done) => {
              sent = done;
              options.onProgress?.(done);
            },
          });
        } catch (error) {
          if (error instanceof FerryError && error.code === 'CONNECTION_LOST') throw error;
          localFailure = localReadFailure(error);
        }
        // A failed read still ends the data properly; the size it states does not matter then.
        await channel.sendJson(FrameType.PART, id, { size: sent });
        await channel.sendEnd(id, hash.copy().digest());
      })
      .catch(answer.reject);
    const result = await answer.promise.catch((error: FerryError) => {
      throw localFailure ?? error;
    });
    if (localFailure) throw localFailure;
    if (result.sha256 !== hash.digest('hex')) throw ferryError('INTEGRITY', `the server stored ${path} with a different SHA-256 than was sent`);
    return result;
  }
}
