/**
 * The one place where error codes become process exit codes (SPEC section 5).
 */

import type { ErrorCode } from '../protocol/errors.js';

export const ExitCode = {
  OK: 0,
  OTHER: 1,
  USAGE: 2,
  AUTH: 3,
  NOT_FOUND: 4,
  CONNECTION: 5,
  INTEGRITY: 6,
  DENIED: 7,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const BY_CODE: Partial<Record<ErrorCode, ExitCode>> = {
  USAGE: ExitCode.USAGE,
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
  PERMISSION_DENIED: ExitCode.DENIED,
  QUOTA_EXCEEDED: ExitCode.DENIED,
};

export function exitCodeFor(code: ErrorCode): ExitCode {
  return BY_CODE[code] ?? ExitCode.OTHER;
}
