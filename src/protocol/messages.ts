/**
 * The messages carried in control frames, and their validation. Pure: no I/O.
 * docs/protocol.md describes the same shapes for writers of other clients.
 */

import { ERROR_CODES, FerryError, ferryError, isErrorCode, type ErrorCode } from './errors.js';

export const PROTOCOL_NAME = 'ferry';
export const PROTOCOL_VERSION = 1;
/** Features a peer may rely on when both sides list them. */
export const CAPABILITIES = ['pipelining', 'resume-download', 'recursive-list', 'no-clobber', 'mtime', 'put-stream'] as const;
export type Capability = (typeof CAPABILITIES)[number];

export interface Hello {
  protocol: string;
  version: number;
  capabilities: string[];
  agent: string;
}

export interface Welcome extends Hello {
  maxFrameBytes: number;
}

export const PERMISSIONS = ['list', 'read', 'write', 'delete'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export type Request =
  | { op: 'login'; user: string; password: string }
  | {
      op: 'put';
      path: string;
      size: number;
      noClobber: boolean;
      resumable: boolean;
      offset: number;
      prefixSha256: string;
      /** The file's modification time (ms since the epoch) to keep; the time of the upload when absent. */
      mtime?: number;
    }
  | { op: 'touch'; path: string; mtime: number }
  | { op: 'putStream'; path: string; noClobber: boolean }
  | { op: 'resume'; path: string; size: number }
  | { op: 'get'; path: string; offset: number }
  | { op: 'list'; path: string; recursive: boolean }
  | { op: 'stat'; path: string; download: boolean }
  | { op: 'delete'; path: string; recursive: boolean }
  | { op: 'rename'; from: string; to: string; noClobber: boolean }
  | { op: 'mkdir'; path: string }
  | { op: 'quit' };

export type RequestOf<O extends Request['op']> = Extract<Request, { op: O }>;

export interface Entry {
  /** The entry's name; for a recursive listing, its path below the listed folder. */
  name: string;
  type: 'file' | 'dir';
  size: number;
  /** Modification time, milliseconds since the epoch. */
  mtime: number;
  sha256?: string;
}

export interface LoginResult {
  user: string;
  home: string;
  permissions: Permission[];
}

export interface PutResult {
  path: string;
  size: number;
  sha256: string;
  /** Where this upload's data started (more than 0 when it continued a partial). */
  offset: number;
}

/** What the server holds of an interrupted upload: its first `offset` bytes. */
export interface ResumeStatus {
  offset: number;
  prefixSha256: string;
}

/** What a streamed upload (`putStream`) states after its data: how many bytes it sent. */
export interface StreamTrailer {
  size: number;
}

export function parseStreamTrailer(value: unknown): StreamTrailer {
  return { size: count(asObject(value, 'the trailer of a streamed upload'), 'size') };
}

export interface GetHeader {
  size: number;
  offset: number;
  mtime: number;
}

export interface ErrorMessage {
  code: ErrorCode;
  message: string;
}

/** What a peer is told of `error`: its stable code and its message, never its cause. */
export function errorMessageOf(error: FerryError): ErrorMessage {
  return { code: error.code, message: error.message };
}

type Fields = Record<string, unknown>;

const SHA256_HEX = /^[0-9a-f]{64}$/;

function asObject(value: unknown, what: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw ferryError('BAD_REQUEST', `${what} must be a JSON object`);
  }
  return value as Fields;
}

function text(fields: Fields, key: string): string {
  const value = fields[key];
  if (typeof value !== 'string') throw ferryError('BAD_REQUEST', `"${key}" must be a string`);
  return value;
}

function count(fields: Fields, key: string, fallback?: number): number {
  const value = fields[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw ferryError('BAD_REQUEST', `"${key}" must be a whole number of at least 0`);
  }
  return value;
}

/** The latest time a JavaScript Date (and so every file time Ferry handles) can hold. */
const MAX_TIME_MS = 8.64e15;

function time(fields: Fields, key: string): number {
  const value = count(fields, key);
  if (value > MAX_TIME_MS) throw ferryError('BAD_REQUEST', `"${key}" is past the latest time a file can have`);
  return value;
}

function flag(fields: Fields, key: string): boolean {
  const value = fields[key] ?? false;
  if (typeof value !== 'boolean') throw ferryError('BAD_REQUEST', `"${key}" must be true or false`);
  return value;
}

export function parseRequest(value: unknown): Request {
  const fields = asObject(value, 'a request');
  const op = fields.op;
  switch (op) {
    case 'login':
      return { op, user: text(fields, 'user'), password: text(fields, 'password') };
    case 'put': {
      const offset = count(fields, 'offset', 0);
      const prefixSha256 = fields.prefixSha256 ?? '';
      if (typeof prefixSha256 !== 'string' || (offset > 0 && !SHA256_HEX.test(prefixSha256))) {
        throw ferryError('BAD_REQUEST', '"prefixSha256" must be the hex SHA-256 of the first "offset" bytes');
      }
      return {
        op,
        path: text(fields, 'path'),
        size: count(fields, 'size'),
        noClobber: flag(fields, 'noClobber'),
        resumable: flag(fields, 'resumable') || offset > 0,
        offset,
        prefixSha256,
        ...(fields.mtime === undefined ? {} : { mtime: time(fields, 'mtime') }),
      };
    }
    case 'touch':
      return { op, path: text(fields, 'path'), mtime: time(fields, 'mtime') };
    case 'putStream':
      return { op, path: text(fields, 'path'), noClobber: flag(fields, 'noClobber') };
    case 'resume':
      return { op, path: text(fields, 'path'), size: count(fields, 'size') };
    case 'get':
      return { op, path: text(fields, 'path'), offset: count(fields, 'offset', 0) };
    case 'list':
      return { op, path: text(fields, 'path'), recursive: flag(fields, 'recursive') };
    case 'stat':
      return { op, path: text(fields, 'path'), download: flag(fields, 'download') };
    case 'mkdir':
      return { op, path: text(fields, 'path') };
    case 'delete':
      return { op, path: text(fields, 'path'), recursive: flag(fields, 'recursive') };
    case 'rename':
      return { op, from: text(fields, 'from'), to: text(fields, 'to'), noClobber: flag(fields, 'noClobber') };
    case 'quit':
      return { op };
    default:
      throw ferryError('BAD_REQUEST', `unknown operation ${JSON.stringify(op)}`);
  }
}

export function parseHello(value: unknown): Hello {
  const fields = asObject(value, 'HELLO');
  const capabilities = fields.capabilities;
  if (!Array.isArray(capabilities) || !capabilities.every((c) => typeof c === 'string')) {
    throw ferryError('BAD_REQUEST', '"capabilities" must be a list of strings');
  }
  return {
    protocol: text(fields, 'protocol'),
    version: count(fields, 'version'),
    capabilities: capabilities as string[],
    agent: text(fields, 'agent'),
  };
}

export function parseWelcome(value: unknown): Welcome {
  const hello = parseHello(value);
  return { ...hello, maxFrameBytes: count(asObject(value, 'WELCOME'), 'maxFrameBytes') };
}

export function parseErrorMessage(value: unknown): ErrorMessage {
  const fields = asObject(value, 'ERROR');
  const code = isErrorCode(fields.code) ? fields.code : 'INTERNAL';
  const message = typeof fields.message === 'string' ? fields.message : ERROR_CODES[code];
  return { code, message };
}

/*
 * The server's answers, read as strictly as its requests are: a field a client
 * cannot use is a server breaking the protocol (BAD_FRAME), never a cast that
 * fails later. Fields the protocol does not name are left out.
 */

/** Times in answers may lie before 1970 (a server's own files can), which requests never set. */
function answerTime(fields: Fields, key: string): number {
  const value = fields[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || Math.abs(value) > MAX_TIME_MS) {
    throw ferryError('BAD_REQUEST', `"${key}" must be a time in whole milliseconds`);
  }
  return value;
}

function sha256Hex(fields: Fields, key: string): string {
  const value = fields[key];
  if (typeof value !== 'string' || !SHA256_HEX.test(value)) throw ferryError('BAD_REQUEST', `"${key}" must be a hex SHA-256`);
  return value;
}

function notUnderstood(what: string, why: string): FerryError {
  return ferryError('BAD_FRAME', `the server sent ${what} that Ferry does not understand (${why}); it is not a Ferry server, or a broken one: check the address, or tell its admin`);
}

/** Reads an answer with `read`; what the field readers refuse is the server's fault, told as such. */
function answer<T>(value: unknown, what: string, read: (fields: Fields) => T): T {
  try {
    return read(asObject(value, what));
  } catch (error) {
    if (!(error instanceof FerryError) || error.code !== 'BAD_REQUEST') throw error;
    throw notUnderstood(what, error.message);
  }
}

function entryOf(fields: Fields): Entry {
  const type = fields.type;
  if (type !== 'file' && type !== 'dir') throw ferryError('BAD_REQUEST', '"type" must be "file" or "dir"');
  return {
    name: text(fields, 'name'),
    type,
    size: count(fields, 'size'),
    mtime: answerTime(fields, 'mtime'),
    ...(fields.sha256 === undefined ? {} : { sha256: sha256Hex(fields, 'sha256') }),
  };
}

/** The entry a `stat` answers. */
export function parseEntry(value: unknown): Entry {
  return answer(value, 'an entry', entryOf);
}

/** One PART of a listing: a list of entries. */
export function parseEntries(value: unknown): Entry[] {
  if (!Array.isArray(value)) throw notUnderstood('a part of a listing', 'it must be a list of entries');
  return value.map((item) => parseEntry(item));
}

export function parseLoginResult(value: unknown): LoginResult {
  return answer(value, 'the answer to a login', (fields) => {
    const permissions = fields.permissions;
    if (!Array.isArray(permissions) || !permissions.every((p) => typeof p === 'string')) {
      throw ferryError('BAD_REQUEST', '"permissions" must be a list of strings');
    }
    // A newer server may grant more than this client knows of; those mean nothing here.
    const known = permissions.filter((p): p is Permission => (PERMISSIONS as readonly string[]).includes(p));
    return { user: text(fields, 'user'), home: text(fields, 'home'), permissions: known };
  });
}

export function parsePutResult(value: unknown): PutResult {
  return answer(value, 'the answer to an upload', (fields) => ({
    path: text(fields, 'path'),
    size: count(fields, 'size'),
    sha256: sha256Hex(fields, 'sha256'),
    offset: count(fields, 'offset'),
  }));
}

export function parseResumeStatus(value: unknown): ResumeStatus {
  return answer(value, 'the state of an interrupted upload', (fields) => ({ offset: count(fields, 'offset'), prefixSha256: sha256Hex(fields, 'prefixSha256') }));
}

export function parseGetHeader(value: unknown): GetHeader {
  return answer(value, 'the header of a download', (fields) => ({ size: count(fields, 'size'), offset: count(fields, 'offset'), mtime: answerTime(fields, 'mtime') }));
}
