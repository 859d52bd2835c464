/**
 * The catalogue of every failure Ferry names. Codes travel on the wire in ERROR
 * frames, so server and client share this one list; the CLI maps codes to exit
 * codes in one place (src/cli/exit-codes.ts).
 */

export const ERROR_CODES = {
  AUTH_FAILED: 'wrong user name or password',
  AUTH_REQUIRED: 'log in first',
  BANNED: 'too many failed logins from this address; try again later',
  SESSION_REVOKED: 'the account was removed or its password changed; log in again',
  NOT_FOUND: 'no such file or folder',
  EXISTS: 'the name is already taken',
  PERMISSION_DENIED: 'your account is not allowed to do that',
  QUOTA_EXCEEDED: 'your storage quota is full',
  BAD_PATH: 'the path is not allowed',
  NOT_A_DIRECTORY: 'not a folder',
  IS_A_DIRECTORY: 'is a folder',
  NOT_EMPTY: 'the folder is not empty',
  INTEGRITY: 'the data did not match its size or SHA-256 digest',
  TOO_LARGE: 'the file is larger than the server accepts',
  NO_SPACE: 'the server ran out of disk space',
  STORAGE_UNAVAILABLE: 'the server cannot reach its storage just now',
  BUSY: 'the server is at its connection limit',
  TIMEOUT: 'the other side took too long',
  BAD_FRAME: 'a malformed or oversized frame',
  BAD_REQUEST: 'a request the server does not understand',
  UNSUPPORTED_VERSION: 'the client and server speak different protocol versions',
  INTERNAL: 'an unexpected server error',
  // Raised on the client side only; they never cross the wire.
  CONNECT_FAILED: 'cannot connect to the server',
  CONNECTION_LOST: 'the connection was lost',
  TLS_UNTRUSTED: "the server's TLS certificate could not be trusted",
  UNSAFE_NAME: 'the server sent a name that could land outside the destination folder',
  LOCAL_IO: 'a local file could not be read or written',
  CANCELLED: 'cancelled by the user (Ctrl-C)',
  USAGE: 'the command was used wrongly',
  PARTIAL: 'some files failed while others succeeded',
  // Raised by the server process itself when it cannot start; it never crosses the wire.
  CONFIG: "the server's configuration is invalid or cannot be used",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** A failure with a stable code and a message that says what to do next. */
export class FerryError extends Error {
  override readonly name = 'FerryError';

  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_CODES[code],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function ferryError(code: ErrorCode, message?: string, cause?: unknown): FerryError {
  return new FerryError(code, message, cause === undefined ? undefined : { cause });
}

/** The errno-style code of a Node system error, if it has one. */
export function systemErrorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const { code } = error;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** Any failure as a FerryError; an unexpected one becomes INTERNAL (details go to the log, not the peer). */
export function asFerryError(error: unknown): FerryError {
  return error instanceof FerryError ? error : ferryError('INTERNAL', 'an unexpected server error; the server log has the details', error);
}
