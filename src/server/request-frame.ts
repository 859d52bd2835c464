/**
 * A REQUEST frame read once: the request, or why it cannot be served, and what
 * the session must know either way: whether data frames follow it (a put, sized
 * or streamed, even one whose fields do not parse, is followed by its data) and
 * which path an upload writes (commits to other paths may still be running).
 */

import { asFerryError, type FerryError } from '../protocol/errors.js';
import { parseJsonPayload, type Frame } from '../protocol/frames.js';
import { parseRequest, type Request } from '../protocol/messages.js';
import { formatRemotePath, parseRemotePath } from '../protocol/paths.js';

export type ParsedRequest = {
  /** Whether data frames follow the request, up to its END. */
  carriesData: boolean;
} & (
  | {
      request: Request;
      /** The canonical path an upload writes; undefined for other requests, or a path that does not parse. */
      uploadPath: string | undefined;
    }
  | { request: undefined; error: FerryError }
);

/** Reads a REQUEST frame; throws BAD_FRAME (the connection's fault) when it is not JSON at all. */
export function readRequest(frame: Frame): ParsedRequest {
  const payload = parseJsonPayload(frame);
  let request: Request;
  try {
    request = parseRequest(payload);
  } catch (error) {
    return { request: undefined, error: asFerryError(error), carriesData: isPutAttempt(payload) };
  }
  if (request.op !== 'put' && request.op !== 'putStream') return { request, uploadPath: undefined, carriesData: false };
  return { request, uploadPath: canonical(request.path), carriesData: true };
}

/** Whether a request that does not parse still meant to upload: its data follows all the same. */
function isPutAttempt(payload: unknown): boolean {
  if (typeof payload !== 'object' || payload === null) return false;
  const op = (payload as { op?: unknown }).op;
  return op === 'put' || op === 'putStream';
}

function canonical(path: string): string | undefined {
  try {
    return formatRemotePath(parseRemotePath(path));
  } catch {
    return undefined;
  }
}
