/**
 * Resumable uploads over tus 1.0 (core, creation, termination, checksum with
 * sha256), written on Ferry's own upload machinery rather than @tus/server: the
 * storage interface already keeps an interrupted upload's bytes (a partial keyed by
 * user, path and size, locked while written) and continues one only after the SHA-256
 * of the bytes it holds checks out, for local disk and S3 alike. An upload's id is
 * its size, the SHA-256 the sender promised (if any) and its path, so any worker
 * can answer for it and no table of uploads has to be shared. Each PATCH appends to
 * the partial; the last one verifies the whole file's SHA-256 and commits it
 * atomically, so the name shows the complete file or nothing, as with the CLI.
 */

import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import { asFerryError, ferryError } from '../protocol/errors.js';
import { formatRemotePath, parseRemotePath } from '../protocol/paths.js';
import { requirePermission } from '../server/handler.js';
import { transferred } from '../server/reclaim.js';
import type { RemotePath, UploadTarget } from '../storage/index.js';
import { recordTransfer, type WebRequest } from './request.js';

export const TUS_PATH = '/api/tus';
const TUS_VERSION = '1.0.0';
const EXTENSIONS = 'creation,termination,checksum';
const EMPTY_SHA256 = createHash('sha256').digest('hex');

interface UploadId {
  size: number;
  /** Hex SHA-256 of the whole file, when the sender gave one in the metadata. */
  sha256: string;
  path: RemotePath;
}

function encodeId(id: UploadId): string {
  return Buffer.from(`${id.size}:${id.sha256}:${formatRemotePath(id.path)}`).toString('base64url');
}

function decodeId(text: string): UploadId {
  const match = /^(\d+):([0-9a-f]{64}|):(.*)$/s.exec(Buffer.from(text, 'base64url').toString('utf8'));
  if (!match) throw ferryError('NOT_FOUND', 'no such upload; start it again');
  return { size: Number(match[1]), sha256: match[2] as string, path: parseRemotePath(match[3] as string) };
}

/** Upload-Metadata: comma-separated `key base64value` pairs. */
function parseMetadata(header: string | undefined): Map<string, string> {
  const metadata = new Map<string, string>();
  for (const pair of (header ?? '').split(',')) {
    const [key, value] = pair.trim().split(' ');
    if (key) metadata.set(key, Buffer.from(value ?? '', 'base64').toString('utf8'));
  }
  return metadata;
}

/** A PATCH in progress on this process, so a newer one for the same upload can take over at once. */
interface ActivePatch {
  cancel(): void;
  done: Promise<void>;
}

export class TusUploads {
  private readonly active = new Map<string, ActivePatch>();
  /** Uploads finished here lately, so a client that lost the last answer learns it is done. */
  private readonly finished = new Map<string, number>();

  async handle(r: WebRequest, rest: string): Promise<void> {
    r.res.setHeader('Tus-Resumable', TUS_VERSION);
    if (r.req.method === 'OPTIONS') {
      const headers: Record<string, string> = { 'Tus-Version': TUS_VERSION, 'Tus-Extension': EXTENSIONS, 'Tus-Checksum-Algorithm': 'sha256' };
      if (r.maxFileSize > 0) headers['Tus-Max-Size'] = String(r.maxFileSize);
      r.res.writeHead(204, headers);
      r.res.end();
      return;
    }
    if (r.req.headers['tus-resumable'] !== TUS_VERSION) {
      r.res.writeHead(412, { 'Tus-Version': TUS_VERSION });
      r.res.end();
      return;
    }
    requirePermission(r.user.permissions, 'write', 'upload');
    if (rest === '' && r.req.method === 'POST') return this.create(r);
    const id = decodeId(rest);
    const key = `${r.user.name}\u0000${rest}`;
    if (r.req.method === 'HEAD') return this.head(r, id, key);
    if (r.req.method === 'PATCH') return this.patch(r, id, key);
    if (r.req.method === 'DELETE') return this.terminate(r, id, key);
    throw ferryError('BAD_REQUEST', `${r.req.method ?? ''} is not a tus request`);
  }

  private async create(r: WebRequest): Promise<void> {
    if (r.req.headers['upload-defer-length'] !== undefined) throw ferryError('BAD_REQUEST', 'give Upload-Length when creating an upload');
    const length = one(r.req.headers['upload-length']);
    if (length === undefined || !/^\d+$/.test(length) || !Number.isSafeInteger(Number(length))) throw ferryError('BAD_REQUEST', 'Upload-Length must be a whole number of bytes');
    const size = Number(length);
    if (r.maxFileSize > 0 && size > r.maxFileSize) {
      throw ferryError('TOO_LARGE', `the file is ${size} bytes; this server accepts files up to ${r.maxFileSize} bytes`);
    }
    const metadata = parseMetadata(one(r.req.headers['upload-metadata']));
    const name = metadata.get('filename') ?? metadata.get('name');
    if (!name) throw ferryError('BAD_REQUEST', 'name the file in Upload-Metadata ("filename")');
    const path = parseRemotePath(`${metadata.get('folder') ?? ''}/${name}`);
    if (path.length === 0) throw ferryError('BAD_PATH', 'the upload needs a file name');
    const sha256 = (metadata.get('sha256') ?? '').toLowerCase();
    if (sha256 !== '' && !/^[0-9a-f]{64}$/.test(sha256)) throw ferryError('BAD_REQUEST', 'the sha256 metadata must be 64 hex digits');
    // Refuses a path outside the rules or the jail now, before any byte is sent.
    await r.home.resumeStatus(path, size);
    const id = encodeId({ size, sha256, path });
    if (size === 0) {
      const target = await r.home.beginUpload(path, { size: 0, noClobber: false, resumable: false, offset: 0, prefixSha256: EMPTY_SHA256 });
      await this.finish(r, target, { size, sha256, path }, `${r.user.name}\u0000${id}`, 0, performance.now());
    }
    r.res.writeHead(201, { Location: `${TUS_PATH}/${id}`, 'Upload-Offset': '0' });
    r.res.end();
  }

  /** Waits for this process's earlier PATCH of the same upload to stop and keep its bytes. */
  private async takeOver(key: string): Promise<void> {
    const earlier = this.active.get(key);
    if (!earlier) return;
    earlier.cancel();
    await earlier.done;
  }

  private async head(r: WebRequest, id: UploadId, key: string): Promise<void> {
    await this.takeOver(key);
    let offset = id.size;
    if (!this.finished.has(key)) {
      const status = await r.home.resumeStatus(id.path, id.size);
      if (status.busy) return busyElsewhere(r);
      offset = status.offset;
    }
    r.res.writeHead(200, { 'Upload-Offset': String(offset), 'Upload-Length': String(id.size), 'Cache-Control': 'no-store' });
    r.res.end();
  }

  private async patch(r: WebRequest, id: UploadId, key: string): Promise<void> {
    if (r.req.headers['content-type'] !== 'application/offset+octet-stream') {
      r.res.writeHead(415);
      r.res.end();
      return;
    }
    const offset = Number(r.req.headers['upload-offset']);
    if (!Number.isSafeInteger(offset) || offset < 0) throw ferryError('BAD_REQUEST', 'Upload-Offset must be a whole number of bytes');
    const checksum = parseChecksum(one(r.req.headers['upload-checksum']));
    await this.takeOver(key);
    this.finished.delete(key);
    const status = await r.home.resumeStatus(id.path, id.size);
    if (status.busy) return busyElsewhere(r);
    if (offset !== status.offset) {
      r.res.writeHead(409, { 'Upload-Offset': String(status.offset) });
      r.res.end();
      return;
    }
    const started = performance.now();
    const target = await r.home.beginUpload(id.path, { size: id.size, noClobber: false, resumable: true, offset, prefixSha256: status.prefixSha256 });
    let settle = (): void => undefined;
    const done = new Promise<void>((resolve) => (settle = resolve));
    const patch: ActivePatch = { cancel: () => r.req.destroy(), done };
    this.active.set(key, patch);
    const moved = { bytes: 0 };
    try {
      const received = await this.receive(r.req, target, id.size - offset, moved);
      if (checksum && !checksum.equals(received.checksum)) {
        await target.abort();
        throw ferryError('INTEGRITY', 'the Upload-Checksum does not match the bytes received; the upload starts again from its beginning');
      }
      const reached = offset + received.bytes;
      if (reached === id.size) {
        await this.finish(r, target, id, key, received.bytes, started);
      } else {
        await target.suspend();
      }
      r.res.writeHead(204, { 'Upload-Offset': String(reached) });
      r.res.end();
    } catch (error) {
      const failure = asFerryError(error);
      if (failure.code === 'CONNECTION_LOST') {
        await target.suspend();
        recordTransfer(r, { direction: 'upload', result: 'aborted', bytes: moved.bytes, started, path: formatRemotePath(id.path), code: failure.code });
      } else {
        await target.abort();
        recordTransfer(r, { direction: 'upload', result: 'error', bytes: moved.bytes, started, path: formatRemotePath(id.path), code: failure.code });
      }
      throw failure;
    } finally {
      if (this.active.get(key) === patch) this.active.delete(key);
      settle();
    }
  }

  /** Streams a PATCH body into the target, at most `room` bytes, counting them in `moved` as they arrive. */
  private async receive(req: IncomingMessage, target: UploadTarget, room: number, moved: { bytes: number }): Promise<{ bytes: number; checksum: Buffer }> {
    const hash = createHash('sha256');
    let bytes = 0;
    const body = req[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = (await body.next()) as IteratorResult<Buffer>;
      } catch (error) {
        throw ferryError('CONNECTION_LOST', 'the connection was lost during an upload; it resumes from what arrived', error);
      }
      if (next.done) break;
      const data = next.value;
      bytes += data.length;
      if (bytes > room) throw ferryError('BAD_REQUEST', `the PATCH carries more than the ${room} bytes the upload lacks; nothing past its length is kept`);
      hash.update(data);
      await target.write(data);
      moved.bytes = bytes;
      transferred(data.length);
    }
    if (!req.complete) throw ferryError('CONNECTION_LOST', 'the connection was lost during an upload; it resumes from what arrived');
    return { bytes, checksum: hash.digest() };
  }

  /** Verifies the whole file's SHA-256 (when promised) and makes it visible under its name. */
  private async finish(r: WebRequest, target: UploadTarget, id: UploadId, key: string, bytes: number, started: number): Promise<void> {
    const digest = target.digest().toString('hex');
    if (id.sha256 !== '' && digest !== id.sha256) {
      await target.abort();
      throw ferryError('INTEGRITY', "the SHA-256 of the received file does not match the sender's; nothing was saved, send it again");
    }
    await target.commit(digest);
    this.remember(key);
    r.res.setHeader('Ferry-Sha256', digest);
    recordTransfer(r, { direction: 'upload', result: 'ok', bytes, started, path: formatRemotePath(id.path) });
  }

  private remember(key: string): void {
    this.finished.set(key, Date.now());
    // A small memory: clients ask right after a lost answer, not days later.
    if (this.finished.size > 1000) this.finished.delete(this.finished.keys().next().value as string);
  }

  private async terminate(r: WebRequest, id: UploadId, key: string): Promise<void> {
    await this.takeOver(key);
    this.finished.delete(key);
    const status = await r.home.resumeStatus(id.path, id.size);
    if (status.offset > 0) {
      // Taking the partial at its held length and aborting forgets it, through the same lock.
      const target = await r.home.beginUpload(id.path, { size: id.size, noClobber: false, resumable: true, offset: status.offset, prefixSha256: status.prefixSha256 });
      await target.abort();
    }
    r.res.writeHead(204);
    r.res.end();
  }
}

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function parseChecksum(header: string | undefined): Buffer | undefined {
  if (header === undefined) return undefined;
  const [algorithm, value] = header.trim().split(' ');
  if (algorithm !== 'sha256' || value === undefined) {
    throw ferryError('BAD_REQUEST', 'only Upload-Checksum: sha256 <base64> is supported');
  }
  return Buffer.from(value, 'base64');
}


/** A client retries after this long when the upload is still being written elsewhere. */
const HELD_RETRY_AFTER_S = 1;

/**
 * Another connection (a PATCH on another worker whose client vanished, say) still
 * writes the upload, so what the server holds cannot be told yet: 423 Locked, which
 * tus clients retry, rather than an offset of 0 that would restart the upload.
 */
function busyElsewhere(r: WebRequest): void {
  r.res.writeHead(423, { 'Retry-After': String(HELD_RETRY_AFTER_S), 'Cache-Control': 'no-store' });
  r.res.end();
}
