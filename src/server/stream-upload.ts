/**
 * Streamed uploads (`putStream`, docs/protocol.md 5.6): the client does not know
 * the size in advance (a pipe), so it states it after the data, in a PART
 * trailer before END. The data waits in a spool file on the server, refused as
 * soon as it passes the largest file the server or the user's quota could take;
 * once the trailer and the digest check out, the spool is stored like any sized
 * upload (quota check, atomic commit), so both storage backends take it
 * unchanged and nothing is ever visible under the name before the commit.
 */

import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FerryError, asFerryError, ferryError } from '../protocol/errors.js';
import { FrameType, parseJsonPayload } from '../protocol/frames.js';
import { parseStreamTrailer, type StreamTrailer } from '../protocol/messages.js';
import { formatRemotePath, parseRemotePath } from '../protocol/paths.js';
import { requirePermission, type CommandContext, type Handler } from './handler.js';
import { beginUpload, nextUploadFrame, refuse } from './upload.js';
import { transferred } from './reclaim.js';

/** Reading the spool back into storage moves this many bytes at a time. */
const SPOOL_READ_BYTES = 1024 * 1024;

/** A file in the spool folder that holds a streamed upload until its END. */
class Spool {
  private constructor(
    readonly file: string,
    readonly handle: FileHandle,
  ) {}

  static async create(dir: string): Promise<Spool> {
    await mkdir(dir, { recursive: true });
    const file = join(dir, `stream-${randomUUID()}.spool`);
    return new Spool(file, await open(file, 'wx+'));
  }

  async write(chunk: Buffer): Promise<void> {
    await this.handle.write(chunk);
  }

  async *read(): AsyncGenerator<Buffer> {
    const buffer = Buffer.allocUnsafe(SPOOL_READ_BYTES);
    for (let position = 0; ; ) {
      const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      // A copy: the storage may hold on to a chunk while the next one is read.
      yield Buffer.from(buffer.subarray(0, bytesRead));
    }
  }

  async remove(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await unlink(this.file).catch(() => undefined);
  }
}

/** The most bytes a streamed upload may send: the server's file limit and the user's whole quota, whichever is smaller. */
function cap(ctx: CommandContext): { bytes: number; error: (path: string) => FerryError } | undefined {
  const { maxFileSize } = ctx.limits;
  const quota = ctx.quota;
  if (maxFileSize <= 0 && quota <= 0) return undefined;
  if (maxFileSize > 0 && (quota <= 0 || maxFileSize <= quota)) {
    return { bytes: maxFileSize, error: (path) => ferryError('TOO_LARGE', `${path} passed ${maxFileSize} bytes, the largest file this server accepts; nothing was saved`) };
  }
  return {
    bytes: quota,
    error: (path) => ferryError('QUOTA_EXCEEDED', `${path} passed ${quota} bytes, your whole quota; nothing was saved; delete something first, or ask the server's admin for more`),
  };
}

/** Receives the data into the spool up to END; returns the verified hex digest. */
async function receive(ctx: CommandContext, path: string, spool: Spool): Promise<string> {
  const hash = createHash('sha256');
  const limit = cap(ctx);
  let trailer: StreamTrailer | undefined;
  for (;;) {
    const frame = await nextUploadFrame(ctx.channel, ctx.id, true);
    if (frame.type === FrameType.PART) {
      if (trailer) throw await refuse(ctx, ferryError('BAD_REQUEST', 'a streamed upload states its size once, after its data'));
      try {
        trailer = parseStreamTrailer(parseJsonPayload(frame));
      } catch (error) {
        throw await refuse(ctx, asFerryError(error));
      }
      continue;
    }
    if (frame.type === FrameType.END) {
      if (trailer === undefined) throw ferryError('BAD_REQUEST', `the streamed upload of ${path} ended without stating its size; nothing was saved`);
      if (trailer.size !== ctx.bytes) {
        throw ferryError('INTEGRITY', `the streamed upload of ${path} states ${trailer.size} bytes but ${ctx.bytes} arrived; nothing was saved`);
      }
      const digest = hash.digest();
      if (!digest.equals(frame.payload)) {
        throw ferryError('INTEGRITY', "the SHA-256 of the received data does not match the sender's; nothing was saved, send it again");
      }
      return digest.toString('hex');
    }
    if (trailer) throw await refuse(ctx, ferryError('BAD_REQUEST', 'data came after the size of a streamed upload was stated'));
    ctx.bytes += frame.payload.length;
    if (limit && ctx.bytes > limit.bytes) throw await refuse(ctx, limit.error(path));
    hash.update(frame.payload);
    try {
      await spool.write(frame.payload);
    } catch (error) {
      throw await refuse(ctx, ferryError('NO_SPACE', 'the server cannot hold the streamed upload while it arrives (its temporary space is full); nothing was saved', error));
    }
    await ctx.throttle.take(frame.payload.length);
    transferred(frame.payload.length);
  }
}

export const putStream: Handler<'putStream'> = async (ctx, request) => {
  let spool: Spool;
  try {
    requirePermission(ctx.permissions, 'write', 'upload');
    parseRemotePath(request.path);
    spool = await Spool.create(ctx.limits.spoolDir ?? tmpdir());
  } catch (refusal) {
    throw await refuse(ctx, asFerryError(refusal));
  }
  try {
    const path = formatRemotePath(parseRemotePath(request.path));
    const sha256 = await receive(ctx, path, spool);
    // From here on it is a sized upload: the storage's own checks (quota, no-clobber) apply.
    const size = ctx.bytes;
    const target = await beginUpload(ctx, { op: 'put', path: request.path, size, noClobber: request.noClobber, resumable: false, offset: 0, prefixSha256: '' });
    try {
      for await (const chunk of spool.read()) await target.write(chunk);
      if (target.digest().toString('hex') !== sha256) throw ferryError('INTEGRITY', `the spooled data of ${path} changed before it was stored; nothing was saved`);
    } catch (error) {
      await target.abort();
      throw error;
    }
    const answer = { path: request.path, size, sha256, offset: 0 };
    const committing = target.commit(sha256);
    return { kind: 'committing', commit: committing.finally(() => spool.remove()), answer };
  } catch (error) {
    await spool.remove();
    throw error;
  }
};
