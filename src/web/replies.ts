/**
 * How the web client's answers are written: JSON bodies, and every Ferry error as
 * an HTTP status with the same stable code and message the TCP protocol sends.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { ferryError, type ErrorCode, type FerryError } from '../protocol/errors.js';
import { errorMessageOf } from '../protocol/messages.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  AUTH_FAILED: 401,
  AUTH_REQUIRED: 401,
  SESSION_REVOKED: 401,
  BANNED: 429,
  NOT_FOUND: 404,
  EXISTS: 409,
  NOT_A_DIRECTORY: 409,
  IS_A_DIRECTORY: 409,
  NOT_EMPTY: 409,
  PERMISSION_DENIED: 403,
  QUOTA_EXCEEDED: 413,
  TOO_LARGE: 413,
  NO_SPACE: 507,
  BAD_PATH: 400,
  BAD_REQUEST: 400,
  INTEGRITY: 460,
  STORAGE_UNAVAILABLE: 503,
  BUSY: 503,
  TIMEOUT: 408,
  INTERNAL: 500,
};

function statusOf(code: ErrorCode): number {
  return STATUS[code] ?? 400;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, error: FerryError, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, statusOf(error.code), errorMessageOf(error), headers);
}

/** Largest JSON body a request may send (paths are at most 4 KiB each). */
const MAX_JSON_BYTES = 64 * 1024;

/** Reads a small JSON object body; anything else is a BAD_REQUEST. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
    throw ferryError('BAD_REQUEST', 'send the request body as application/json');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BYTES) throw ferryError('BAD_REQUEST', `the request body is larger than ${MAX_JSON_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw ferryError('BAD_REQUEST', 'the request body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw ferryError('BAD_REQUEST', 'the request body must be a JSON object');
  return body as Record<string, unknown>;
}

export function stringField(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string') throw ferryError('BAD_REQUEST', `"${name}" must be a string`);
  return value;
}
