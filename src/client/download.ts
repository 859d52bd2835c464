/**
 * Receiving one file: the OK header, DATA frames written to a sink as they come,
 * and the END digest that must match the SHA-256 of the whole file (a resumed
 * download's digest covers the bytes held before too).
 */

import { createHash, type Hash } from 'node:crypto';
import { ferryError, type FerryError } from '../protocol/errors.js';
import { FrameType, parseJsonPayload } from '../protocol/frames.js';
import { parseGetHeader, type GetHeader } from '../protocol/messages.js';
import { deferred, serverError, type Multiplexer } from './multiplexer.js';
import type { ProgressListener } from './upload.js';

export interface DownloadSink {
  write(chunk: Buffer): Promise<void>;
}

export interface DownloadResult {
  size: number;
  mtime: number;
  sha256: string;
  /** Bytes actually received in this call (less than size when resumed). */
  received: number;
}

export interface ReceiveOptions {
  /** Where to start; `prefixDigest` must already hold the bytes before it. */
  offset?: number;
  prefixDigest?: Hash;
  onProgress?: ProgressListener;
}

/** Receives `path` into `sink` over `mux`, from `options.offset` on. */
export async function download(mux: Multiplexer, path: string, sink: DownloadSink, options: ReceiveOptions = {}): Promise<DownloadResult> {
  const offset = options.offset ?? 0;
  const hash = options.prefixDigest ?? createHash('sha256');
  const answer = deferred<DownloadResult>();
  let header: GetHeader | undefined;
  let received = 0;
  let sinkFailure: FerryError | undefined;
  /** The header could not be read: the request failed, its frames are passed over up to END. */
  let unreadable = false;
  const id = mux.open(async (frame) => {
    switch (frame.type) {
      case FrameType.OK:
        try {
          header = parseGetHeader(parseJsonPayload(frame));
        } catch (error) {
          unreadable = true;
          answer.reject(error as FerryError);
          return false;
        }
        options.onProgress?.(offset, header.size);
        return false;
      case FrameType.DATA:
        if (unreadable) return false;
        if (!header) break;
        received += frame.payload.length;
        hash.update(frame.payload);
        // A local write failure must not break the connection: keep reading to END.
        if (!sinkFailure) {
          await sink.write(frame.payload).catch((error: unknown) => {
            sinkFailure = ferryError('LOCAL_IO', `cannot write the download of ${path}: ${(error as Error).message}`, error);
          });
        }
        options.onProgress?.(offset + received, header.size);
        return false;
      case FrameType.END: {
        if (unreadable) return true;
        if (!header) break;
        const digest = hash.digest();
        if (sinkFailure) {
          answer.reject(sinkFailure);
        } else if (offset + received !== header.size) {
          answer.reject(ferryError('INTEGRITY', `received ${offset + received} of ${header.size} bytes of ${path}`));
        } else if (!digest.equals(frame.payload)) {
          answer.reject(ferryError('INTEGRITY', `the SHA-256 of ${path} did not match the server's; the file was not kept, download it again`));
        } else {
          answer.resolve({ size: header.size, mtime: header.mtime, sha256: digest.toString('hex'), received });
        }
        return true;
      }
      case FrameType.ERROR:
        answer.reject(serverError(frame));
        return true;
    }
    answer.reject(ferryError('BAD_FRAME', `unexpected frame type ${frame.type} in a download`));
    return true;
  }, answer.reject);
  await mux.exclusive(() => mux.channel.sendJson(FrameType.REQUEST, id, { op: 'get', path, offset })).catch(answer.reject);
  return answer.promise;
}
