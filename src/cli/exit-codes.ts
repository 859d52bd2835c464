/**
 * The one place where error codes become process exit codes (the table in the
 * README): 0 ok, 1 other, 2 usage (or the server's configuration), 3 authentication, 4 not found, 5 connection,
 * 6 integrity, 7 permission or quota, 8 some files of a multi-file command
 * failed while others succeeded.
 */

import type { ErrorCode, FerryError } from '../protocol/errors.js';

export const ExitCode = {
  OK: 0,
  OTHER: 1,
  USAGE: 2,
  AUTH: 3,
  NOT_FOUND: 4,
  CONNECTION: 5,
  INTEGRITY: 6,
  DENIED: 7,
  /** Some files of a multi-file command failed while others succeeded. */
  PARTIAL: 8,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const BY_CODE: Partial<Record<ErrorCode, ExitCode>> = {
  USAGE: ExitCode.USAGE,
  // A server that cannot start for its configuration was started wrongly: a usage error.
  CONFIG: ExitCode.USAGE,
  AUTH_FAILED: ExitCode.AUTH,
  AUTH_REQUIRED: ExitCode.AUTH,
  BANNED: ExitCode.AUTH,
  SESSION_REVOKED: ExitCode.AUTH,
  NOT_FOUND: ExitCode.NOT_FOUND,
  CONNECT_FAILED: ExitCode.CONNECTION,
  CONNECTION_LOST: ExitCode.CONNECTION,
  BUSY: ExitCode.CONNECTION,
  STORAGE_UNAVAILABLE: ExitCode.CONNECTION,
  TIMEOUT: ExitCode.CONNECTION,
  UNSUPPORTED_VERSION: ExitCode.CONNECTION,
  INTEGRITY: ExitCode.INTEGRITY,
  // The server's identity failed verification: an integrity failure of the connection.
  TLS_UNTRUSTED: ExitCode.INTEGRITY,
  // So did the server's answer: it named something outside what was asked for.
  UNSAFE_NAME: ExitCode.INTEGRITY,
  PERMISSION_DENIED: ExitCode.DENIED,
  QUOTA_EXCEEDED: ExitCode.DENIED,
  PARTIAL: ExitCode.PARTIAL,
};

export function exitCodeFor(code: ErrorCode): ExitCode {
  return BY_CODE[code] ?? ExitCode.OTHER;
}

/**
 * The exit code of a command over several items: 0 when all worked, 8 when some
 * failed and others worked, else the code of the first failure.
 */
export function exitCodeForAll(errors: readonly (FerryError | undefined)[]): ExitCode {
  const failed = errors.filter((error) => error !== undefined);
  if (failed.length === 0) return ExitCode.OK;
  if (failed.length < errors.length) return ExitCode.PARTIAL;
  return exitCodeFor((failed[0] as FerryError).code);
}
