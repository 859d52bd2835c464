/**
 * One handler per command a logged-in user can send, and perform(), which runs
 * one to its outcome. Each handler checks the user's permission, resolves paths
 * through protocol/paths.ts and asks the user's HomeStorage; it returns how the
 * request ended (outcome.ts) and the session answers it. Uploads live in
 * upload.ts and stream-upload.ts; login and quit change the session's state and
 * live in session.ts.
 */

import { createHash } from 'node:crypto';
import { ferryError } from '../protocol/errors.js';
import { FrameType, SHA256_BYTES } from '../protocol/frames.js';
import type { Entry, GetHeader, RequestOf, ResumeStatus } from '../protocol/messages.js';
import { formatRemotePath, parseRemotePath } from '../protocol/paths.js';
import { busyUpload } from '../storage/index.js';
import { requirePermission, type CommandContext, type DataOp, type Handler } from './handler.js';
import { failed, type Outcome } from './outcome.js';
import { pooledChunks } from './read-pool.js';
import { transferred } from './reclaim.js';
import { putStream } from './stream-upload.js';
import { put } from './upload.js';

/** A PART frame of a listing holds at most this many entries. */
const LIST_BATCH_ENTRIES = 500;

const resume: Handler<'resume'> = async (ctx, request) => {
  requirePermission(ctx.permissions, 'write', 'upload');
  const path = parseRemotePath(request.path);
  const { offset, prefixSha256, busy } = await ctx.home.resumeStatus(path, request.size);
  // Another connection still writes it (often the one a network cut ended, not yet
  // closed here): the client waits for it rather than sending everything again.
  if (busy) throw busyUpload(formatRemotePath(path));
  return { kind: 'answer', answer: { offset, prefixSha256 } satisfies ResumeStatus };
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
    const send = async (bytes: Buffer, release?: () => void): Promise<void> => {
      hash.update(bytes);
      await ctx.channel.sendData(ctx.id, bytes, release);
      ctx.bytes += bytes.length;
      await ctx.throttle.take(bytes.length);
      transferred(bytes.length);
    };
    if (file.readAt) {
      const chunks = pooledChunks(file.readAt.bind(file), request.offset, file.size);
      for await (const { bytes, release } of chunks) await send(bytes, release);
    } else {
      for await (const chunk of file.stream(request.offset)) await send(chunk as Buffer);
    }
    const digest = hash.digest();
    if (digest.length !== SHA256_BYTES) throw ferryError('INTERNAL', 'unexpected digest length');
    if (file.sha256 !== undefined && digest.toString('hex') !== file.sha256) {
      // The store handed back other bytes than it was given: never pass them off as the file.
      throw ferryError('INTEGRITY', `${request.path} no longer matches the SHA-256 recorded when it was stored; the server's storage is damaged, tell its admin`);
    }
    await ctx.channel.sendEnd(ctx.id, digest);
    return { kind: 'sent' };
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
  return { kind: 'answer', answer: { count } };
};

const stat: Handler<'stat'> = async (ctx, request) => {
  requirePermission(ctx.permissions, 'list', 'look at files');
  return { kind: 'answer', answer: await ctx.home.stat(parseRemotePath(request.path)) };
};

const remove: Handler<'delete'> = async (ctx, request) => {
  requirePermission(ctx.permissions, 'delete', 'delete');
  await ctx.home.remove(parseRemotePath(request.path), request.recursive);
  return { kind: 'answer', answer: {} };
};

const rename: Handler<'rename'> = async (ctx, request) => {
  requirePermission(ctx.permissions, 'write', 'rename');
  requirePermission(ctx.permissions, 'delete', 'rename (it removes the old name)');
  await ctx.home.rename(parseRemotePath(request.from), parseRemotePath(request.to), request.noClobber);
  return { kind: 'answer', answer: {} };
};

const mkdir: Handler<'mkdir'> = async (ctx, request) => {
  requirePermission(ctx.permissions, 'write', 'create folders');
  await ctx.home.mkdir(parseRemotePath(request.path));
  return { kind: 'answer', answer: {} };
};

const touch: Handler<'touch'> = async (ctx, request) => {
  requirePermission(ctx.permissions, 'write', 'change modification times');
  await ctx.home.setMtime(parseRemotePath(request.path), request.mtime);
  return { kind: 'answer', answer: {} };
};

const commands: { [O in DataOp]: Handler<O> } = { put, putStream, resume, get, list, stat, delete: remove, rename, mkdir, touch };

/** Runs the handler of `request` to its outcome; never throws. */
export async function perform(ctx: CommandContext, request: RequestOf<DataOp>): Promise<Outcome> {
  try {
    const done = await (commands[request.op] as Handler<DataOp>)(ctx, request);
    return { ...done, bytes: ctx.bytes };
  } catch (error) {
    return failed(error, ctx.bytes);
  }
}
