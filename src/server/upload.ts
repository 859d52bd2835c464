/**
 * Sized uploads (`put`): the data frames that follow the request, checked for
 * size and digest as they arrive and written into the store's upload target;
 * and how an upload is refused while its data is still coming (ERROR first, so
 * the client can stop sending, then the rest dropped up to END).
 */

import { FerryError, asFerryError, ferryError } from '../protocol/errors.js';
import { FrameType, type Frame } from '../protocol/frames.js';
import type { RequestOf } from '../protocol/messages.js';
import { formatRemotePath, parseRemotePath } from '../protocol/paths.js';
import type { UploadTarget } from '../storage/index.js';
import type { FrameChannel } from '../transport/channel.js';
import { sendError } from './error-reply.js';
import { requirePermission, type CommandContext, type Handler } from './handler.js';
import { SentRefusal } from './outcome.js';
import { transferred } from './reclaim.js';

/**
 * Refuses an upload whose data is still arriving: the ERROR goes out first, so the
 * client can stop sending and END early, then the data up to END is discarded.
 */
export async function refuseUpload(channel: FrameChannel, id: number, error: FerryError): Promise<void> {
  await sendError(channel, id, error);
  await discardUpload(channel, id);
}

/**
 * The next frame of upload `id`: DATA or END (or, with `trailer`, the PART a
 * streamed upload states its size in), or the connection is at fault.
 */
export async function nextUploadFrame(channel: FrameChannel, id: number, trailer = false): Promise<Frame> {
  const frame = await channel.next();
  if (frame === undefined) throw ferryError('CONNECTION_LOST', 'the client went away in the middle of an upload');
  const expected = frame.type === FrameType.DATA || frame.type === FrameType.END || (trailer && frame.type === FrameType.PART);
  if (frame.id !== id || !expected) {
    throw ferryError('BAD_FRAME', `frame type ${frame.type} for request ${frame.id} arrived inside the data of upload ${id}`);
  }
  return frame;
}

/** Consumes a refused upload's data up to its END frame (the client sends without waiting). */
async function discardUpload(channel: FrameChannel, id: number): Promise<void> {
  while ((await nextUploadFrame(channel, id, true)).type !== FrameType.END);
}

/** Streams an upload's DATA into the target, verifying size and digest; returns the hex digest. */
async function receiveUpload(ctx: CommandContext, request: RequestOf<'put'>, target: UploadTarget): Promise<string> {
  const size = request.size - request.offset;
  for (;;) {
    const frame = await nextUploadFrame(ctx.channel, ctx.id);
    if (frame.type === FrameType.END) {
      if (ctx.bytes !== size) {
        throw ferryError('INTEGRITY', `the upload ended after ${ctx.bytes} of the ${size} bytes it announced; nothing was saved`);
      }
      const digest = target.digest();
      if (!digest.equals(frame.payload)) {
        throw ferryError('INTEGRITY', "the SHA-256 of the received data does not match the sender's; nothing was saved, send it again");
      }
      return digest.toString('hex');
    }
    ctx.bytes += frame.payload.length;
    if (ctx.bytes > size) {
      // Give the space back at once; the sender may take its time to stop.
      await target.abort();
      throw await refuse(ctx, ferryError('INTEGRITY', `the upload sent more than the ${size} bytes it announced; nothing was saved`));
    }
    try {
      await target.write(frame.payload);
    } catch (error) {
      await target.abort();
      throw await refuse(ctx, asFerryError(error));
    }
    await ctx.throttle.take(frame.payload.length);
    transferred(frame.payload.length);
  }
}

export async function beginUpload(ctx: CommandContext, request: RequestOf<'put'>): Promise<UploadTarget> {
  requirePermission(ctx.permissions, 'write', 'upload');
  const path = parseRemotePath(request.path);
  if (ctx.limits.maxFileSize > 0 && request.size > ctx.limits.maxFileSize) {
    throw ferryError('TOO_LARGE', `${formatRemotePath(path)} is ${request.size} bytes; this server accepts files up to ${ctx.limits.maxFileSize} bytes`);
  }
  if (request.offset > request.size) throw ferryError('BAD_REQUEST', `offset ${request.offset} is past the ${request.size} bytes announced`);
  const { size, noClobber, resumable, offset, prefixSha256, mtime } = request;
  return ctx.home.beginUpload(path, { size, noClobber, resumable, offset, prefixSha256, mtime });
}

/** Answers an upload with `error` while its data may still be coming (then drops the rest up to END); returns the error to throw. */
export async function refuse(ctx: CommandContext, error: FerryError): Promise<FerryError> {
  await ctx.settled(); // Answers keep request order, even an early refusal.
  await refuseUpload(ctx.channel, ctx.id, error);
  return new SentRefusal(error);
}

export const put: Handler<'put'> = async (ctx, request) => {
  let target: UploadTarget;
  try {
    target = await beginUpload(ctx, request);
  } catch (refusal) {
    throw await refuse(ctx, asFerryError(refusal));
  }
  let sha256: string;
  try {
    sha256 = await receiveUpload(ctx, request, target);
  } catch (error) {
    // A lost connection keeps a resumable upload's data for the next attempt.
    if (error instanceof FerryError && error.code === 'CONNECTION_LOST') await target.suspend();
    else await target.abort();
    throw error;
  }
  // The commit (fsync, rename) goes on while the next request's data arrives; the
  // session answers OK once it is done, in request order (a failed commit aborts itself).
  const answer = { path: request.path, size: request.size, sha256, offset: request.offset };
  return { kind: 'committing', commit: target.commit(sha256), answer };
};
