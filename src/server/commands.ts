/**
 * One handler per command a logged-in user can send. Each handler checks the
 * user's permission, resolves paths through protocol/paths.ts, asks the user's
 * HomeStorage, and answers on the channel. Login and quit change the session's
 * state and live in session.ts.
 */

import { createHash } from 'node:crypto';
import { FerryError, asFerryError, ferryError } from '../protocol/errors.js';
import { FrameType, SHA256_BYTES, type Frame } from '../protocol/frames.js';
import type { Entry, GetHeader, Permission, PutResult, Request, RequestOf, ResumeStatus } from '../protocol/messages.js';
import { formatRemotePath, parseRemotePath } from '../protocol/paths.js';
import type { HomeStorage, UploadTarget } from '../storage/storage.js';
import type { FrameChannel } from '../transport/channel.js';
import { transferred } from './reclaim.js';
import { putStream } from './stream-upload.js';
import type { Throttle } from './throttle.js';

/** A PART frame of a listing holds at most this many entries. */
const LIST_BATCH_ENTRIES = 500;

export interface CommandLimits {
  maxFileSize: number;
  /** Where streamed uploads (size stated at the end) wait for their END; the system's temp folder by default. */
  spoolDir?: string;
}

export interface CommandContext {
  id: number;
  channel: FrameChannel;
  home: HomeStorage;
  permissions: readonly Permission[];
  /** The user's whole quota in bytes (0: none): a streamed upload of unknown length is cut off past it. */
  quota: number;
  limits: CommandLimits;
  /** The connection's bandwidth limit. */
  throttle: Throttle;
  /** Bytes moved by this command, for the transfer log line. */
  bytes: number;
  /** Set when the handler already sent this request's ERROR (uploads answer before draining data). */
  answered: boolean;
  /** Resolves once every earlier request on the connection has been answered. */
  settled: () => Promise<void>;
  /** Set by an upload whose data is in: its commit (fsync, rename), still running... */
  committing?: Promise<void>;
  /** ...and the OK to send, in order, once it is done. */
  result?: PutResult;
}

/**
 * Refuses an upload whose data is still arriving: the ERROR goes out first, so the
 * client can stop sending and END early, then the data up to END is discarded.
 */
export async function refuseUpload(channel: FrameChannel, id: number, error: FerryError): Promise<void> {
  await channel.sendJson(FrameType.ERROR, id, { code: error.code, message: error.message });
  await discardUpload(channel, id);
}

type Handler<O extends Request['op']> = (ctx: CommandContext, request: RequestOf<O>) => Promise<void>;
type DataOp = Exclude<Request['op'], 'login' | 'quit'>;

/** Refuses unless the user's rights include `permission`; `what` names the attempt for the message. */
export function requirePermission(permissions: readonly Permission[], permission: Permission, what: string): void {
  if (!permissions.includes(permission)) {
    throw ferryError('PERMISSION_DENIED', `your account may not ${what} (it lacks the "${permission}" permission)`);
  }
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
export async function discardUpload(channel: FrameChannel, id: number): Promise<void> {
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
  ctx.answered = true;
  return error;
}

const put: Handler<'put'> = async (ctx, request) => {
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
  ctx.result = { path: request.path, size: request.size, sha256, offset: request.offset };
  ctx.committing = target.commit(sha256);
};

const resume: Handler<'resume'> = async (ctx, request) => {
  requirePermission(ctx.permissions, 'write', 'upload');
  const { offset, prefixSha256 } = await ctx.home.resumeStatus(parseRemotePath(request.path), request.size);
  await ctx.channel.sendJson(FrameType.OK, ctx.id, { offset, prefixSha256 } satisfies ResumeStatus);
};

const get: Handler<'get'> = async (ctx, request) => {
  requirePermission(ctx.permissions, 'read', 'download');
  const file = await ctx.home.openRead(parseRemotePath(request.path));
  try {
    if (request.offset > file.size) {
      throw ferryError('BAD_REQUEST', `offset ${request.offset} is past the end of the ${file.size}-byte file`);
    }
    const header: GetHeader = { size: file.size, offset: request.offset, mtime: Math.trunc(file.mtime) };
    await ctx.channel.sendJson(FrameType.OK, ctx.id, header);
    const hash = createHash('sha256');
    // A resumed download is still verified end to end: the digest covers the whole file.
    for await (const chunk of file.stream(0, request.offset)) hash.update(chunk as Buffer);
    for await (const chunk of file.stream(request.offset)) {
      hash.update(chunk as Buffer);
      await ctx.channel.sendData(ctx.id, chunk as Buffer);
      ctx.bytes += (chunk as Buffer).length;
      await ctx.throttle.take((chunk as Buffer).length);
      transferred((chunk as Buffer).length);
    }
    const digest = hash.digest();
    if (digest.length !== SHA256_BYTES) throw ferryError('INTERNAL', 'unexpected digest length');
    if (file.sha256 !== undefined && digest.toString('hex') !== file.sha256) {
      // The store handed back other bytes than it was given: never pass them off as the file.
      throw ferryError('INTEGRITY', `${request.path} no longer matches the SHA-256 recorded when it was stored; the server's storage is damaged, tell its admin`);
    }
    await ctx.channel.sendEnd(ctx.id, digest);
  } finally {
    await file.close();
  }
};

const list: Handler<'list'> = async (ctx, request) => {
  requirePermission(ctx.permissions, 'list', 'list folders');
  let batch: Entry[] = [];
  let count = 0;
  for await (const entry of ctx.home.list(parseRemotePath(request.path), request.recursive)) {
    batch.push(entry);
    count++;
    if (batch.length >= LIST_BATCH_ENTRIES) {
      await ctx.channel.sendJson(FrameType.PART, ctx.id, batch);
      batch = [];
    }
  }
  if (batch.length > 0) await ctx.channel.sendJson(FrameType.PART, ctx.id, batch);
  await ctx.channel.sendJson(FrameType.OK, ctx.id, { count });
};

const stat: Handler<'stat'> = async (ctx, request) => {
  requirePermission(ctx.permissions, 'list', 'look at files');
  const entry = await ctx.home.stat(parseRemotePath(request.path));
  await ctx.channel.sendJson(FrameType.OK, ctx.id, entry);
};

const remove: Handler<'delete'> = async (ctx, request) => {
  requirePermission(ctx.permissions, 'delete', 'delete');
  await ctx.home.remove(parseRemotePath(request.path), request.recursive);
  await ctx.channel.sendJson(FrameType.OK, ctx.id, {});
};

const rename: Handler<'rename'> = async (ctx, request) => {
  requirePermission(ctx.permissions, 'write', 'rename');
  requirePermission(ctx.permissions, 'delete', 'rename (it removes the old name)');
  await ctx.home.rename(parseRemotePath(request.from), parseRemotePath(request.to), request.noClobber);
  await ctx.channel.sendJson(FrameType.OK, ctx.id, {});
};

const mkdir: Handler<'mkdir'> = async (ctx, request) => {
  requirePermission(ctx.permissions, 'write', 'create folders');
  await ctx.home.mkdir(parseRemotePath(request.path));
  await ctx.channel.sendJson(FrameType.OK, ctx.id, {});
};

const touch: Handler<'touch'> = async (ctx, request) => {
  requirePermission(ctx.permissions, 'write', 'change modification times');
  await ctx.home.setMtime(parseRemotePath(request.path), request.mtime);
  await ctx.channel.sendJson(FrameType.OK, ctx.id, {});
};

export const commands: { [O in DataOp]: Handler<O> } = { put, putStream, resume, get, list, stat, delete: remove, rename, mkdir, touch };

export function isDataOp(op: Request['op']): op is DataOp {
  return Object.hasOwn(commands, op);
}

export function transferDirection(op: Request['op']): 'upload' | 'download' | undefined {
  return op === 'put' || op === 'putStream' ? 'upload' : op === 'get' ? 'download' : undefined;
}

/**
 * The transfer a failed request counts as: its own, or a download that failed
 * before it began when the stat a client sends to plan one fails (a missing name).
 */
export function failedTransferDirection(request: Request): 'upload' | 'download' | undefined {
  return transferDirection(request.op) ?? (request.op === 'stat' && request.download ? 'download' : undefined);
}
