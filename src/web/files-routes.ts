/**
 * The web client's JSON routes over a user's HomeStorage: list, stat (with the
 * SHA-256), mkdir, rename, delete, and downloads with HTTP Range and an ETag made
 * from the SHA-256 (so browsers, `curl -C -` and `wget -c` resume). Paths are
 * parsed by protocol/paths.ts and rights checked as for the TCP commands.
 */

import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { asFerryError, ferryError } from '../protocol/errors.js';
import { formatRemotePath, parseRemotePath } from '../protocol/paths.js';
import { requirePermission } from '../server/handler.js';
import { transferred } from '../server/reclaim.js';
import { auditChange } from '../server/audit.js';
import type { Request } from '../protocol/messages.js';
import { readJson, sendJson, stringField } from './replies.js';
import { recordTransfer, type WebRequest } from './request.js';

function queryPath(url: URL, name = 'path'): string[] {
  return parseRemotePath(url.searchParams.get(name) ?? '/');
}

async function list(r: WebRequest): Promise<void> {
  requirePermission(r.user.permissions, 'list', 'list folders');
  const path = queryPath(r.url);
  const entries = [];
  for await (const entry of r.home.list(path, false)) entries.push(entry);
  sendJson(r.res, 200, { path: formatRemotePath(path), entries });
}

async function stat(r: WebRequest): Promise<void> {
  requirePermission(r.user.permissions, 'list', 'look at files');
  sendJson(r.res, 200, await r.home.stat(queryPath(r.url)));
}

/** Runs a change of the tree and writes its audit line (done or refused), as the TCP commands do. */
async function audited(r: WebRequest, request: Request, change: () => Promise<void>): Promise<void> {
  try {
    await change();
    auditChange(r.logger, { user: r.user.name, remote: r.remote }, request);
  } catch (error) {
    auditChange(r.logger, { user: r.user.name, remote: r.remote }, request, asFerryError(error).code);
    throw error;
  }
}

async function mkdir(r: WebRequest): Promise<void> {
  const given = stringField(await readJson(r.req), 'path');
  await audited(r, { op: 'mkdir', path: given }, async () => {
    requirePermission(r.user.permissions, 'write', 'create folders');
    const path = parseRemotePath(given);
    await r.home.mkdir(path);
    sendJson(r.res, 201, { path: formatRemotePath(path) });
  });
}

async function rename(r: WebRequest): Promise<void> {
  const body = await readJson(r.req);
  const [given, target] = [stringField(body, 'from'), stringField(body, 'to')];
  await audited(r, { op: 'rename', from: given, to: target, noClobber: true }, async () => {
    requirePermission(r.user.permissions, 'write', 'rename');
    requirePermission(r.user.permissions, 'delete', 'rename (it removes the old name)');
    const from = parseRemotePath(given);
    const to = parseRemotePath(target);
    await r.home.rename(from, to, true);
    sendJson(r.res, 200, { from: formatRemotePath(from), to: formatRemotePath(to) });
  });
}

async function remove(r: WebRequest): Promise<void> {
  const body = await readJson(r.req);
  const given = stringField(body, 'path');
  const recursive = body.recursive === true;
  await audited(r, { op: 'delete', path: given, recursive }, async () => {
    requirePermission(r.user.permissions, 'delete', 'delete');
    const path = parseRemotePath(given);
    if (path.length === 0) throw ferryError('BAD_PATH', 'the home folder itself cannot be deleted');
    await r.home.remove(path, recursive);
    sendJson(r.res, 200, {});
  });
}

/** One byte range of a file of `size` bytes, from a Range header; undefined for the whole file, null when unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined | null {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges, or another unit: the whole file is a valid answer.
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  const [first, last] = [match[1] as string, match[2] as string];
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return null;
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return null;
  return { start, end };
}

function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

async function download(r: WebRequest): Promise<void> {
  requirePermission(r.user.permissions, 'read', 'download');
  const path = queryPath(r.url);
  const started = performance.now();
  let bytes = 0;
  const file = await r.home.openRead(path);
  try {
    // The ETag is the content's SHA-256: the same bytes keep it across renames and restarts.
    const sha256 = file.sha256 ?? (await r.home.stat(path)).sha256;
    const etag = `"sha256-${sha256 ?? ''}"`;
    const headers: Record<string, string | number> = {
      'Accept-Ranges': 'bytes',
      ETag: etag,
      'Last-Modified': new Date(file.mtime).toUTCString(),
      'Cache-Control': 'private, no-cache',
      'Content-Type': 'application/octet-stream',
      'Content-Disposition': contentDisposition(path.at(-1) ?? 'download'),
    };
    if (sha256) headers['Repr-Digest'] = `sha-256=:${Buffer.from(sha256, 'hex').toString('base64')}:`;
    const ifNoneMatch = r.req.headers['if-none-match'];
    if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((tag) => tag.trim() === etag)) {
      r.res.writeHead(304, headers);
      r.res.end();
      return;
    }
    // A Range with an If-Range that names other content gets the whole (new) file.
    const ifRange = r.req.headers['if-range'];
    const rangeHeader = ifRange === undefined || ifRange === etag ? r.req.headers.range : undefined;
    const range = parseRange(rangeHeader, file.size);
    if (range === null) {
      r.res.writeHead(416, { ...headers, 'Content-Range': `bytes */${file.size}` });
      r.res.end();
      return;
    }
    const { start, end } = range ?? { start: 0, end: file.size - 1 };
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${file.size}`;
    headers['Content-Length'] = end - start + 1;
    r.res.writeHead(range ? 206 : 200, headers);
    if (r.req.method === 'HEAD' || end < start) {
      r.res.end();
      return;
    }
    const source = file.stream(start, end + 1);
    source.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      transferred(chunk.length);
    });
    try {
      await pipeline(source, r.res);
    } catch (error) {
      recordTransfer(r, { direction: 'download', result: 'aborted', bytes, started, path: formatRemotePath(path), code: 'CONNECTION_LOST' });
      throw ferryError('CONNECTION_LOST', 'the browser went away during a download', error);
    }
    recordTransfer(r, { direction: 'download', result: 'ok', bytes, started, path: formatRemotePath(path) });
  } catch (error) {
    const failure = asFerryError(error);
    if (failure.code !== 'CONNECTION_LOST') recordTransfer(r, { direction: 'download', result: 'error', bytes, started, path: formatRemotePath(path), code: failure.code });
    throw failure;
  } finally {
    await file.close();
  }
}

type Route = (r: WebRequest) => Promise<void>;

/** Routes by method and path below /api/. */
export const fileRoutes: Record<string, Route> = {
  'GET list': list,
  'GET stat': stat,
  'POST mkdir': mkdir,
  'POST rename': rename,
  'POST delete': remove,
  'GET download': download,
  'HEAD download': download,
};
