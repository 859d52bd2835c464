/**
 * What a failed S3 call means to a Ferry user. The SDK reports service errors as
 * S3ServiceException (name and HTTP status) and network failures as Node system
 * errors; both become FerryErrors whose message says what to do, with the SDK's
 * error kept as the cause for the server log.
 */

import { S3ServiceException } from '@aws-sdk/client-s3';
import { settingName } from '../../config/schema.js';
import { ferryError, FerryError, systemErrorCode } from '../../protocol/errors.js';
import { formatRemotePath } from '../../protocol/paths.js';
import type { RemotePath } from '../storage.js';

const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/** The HTTP status of a service error, if the store answered at all. */
function s3Status(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
}

/** The store says the key (or upload) is not there. */
export function isS3NotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  return s3Status(error) === 404 || ['NoSuchKey', 'NotFound', 'NoSuchUpload'].includes(error.name);
}

/** A conditional write lost (If-None-Match: * on an existing key). */
export function isS3PreconditionFailed(error: unknown): boolean {
  return s3Status(error) === 412 || (error instanceof S3ServiceException && error.name === 'PreconditionFailed');
}

function unreachable(error: unknown): boolean {
  const code = systemErrorCode(error) ?? systemErrorCode((error as { cause?: unknown } | undefined)?.cause);
  if (code !== undefined && NETWORK_ERRORS.has(code)) return true;
  const status = s3Status(error);
  return status === 429 || (status !== undefined && status >= 500) || (error instanceof Error && ['TimeoutError', 'SlowDown', 'RequestTimeout'].includes(error.name));
}

/** Maps a failed S3 call on `path` to the error the user should see. */
export function s3Error(error: unknown, path: RemotePath): FerryError {
  if (error instanceof FerryError) return error;
  const where = formatRemotePath(path);
  if (isS3NotFound(error)) return ferryError('NOT_FOUND', `${where} does not exist`, error);
  if (isS3PreconditionFailed(error)) return ferryError('EXISTS', `${where} already exists`, error);
  if (unreachable(error)) {
    return ferryError('STORAGE_UNAVAILABLE', `the server cannot reach its storage just now (${where} was not touched); try again in a minute`, error);
  }
  if (s3Status(error) === 403) {
    return ferryError('PERMISSION_DENIED', `the server's object store refuses access to ${where}; tell the server's admin`, error);
  }
  // The store's message names buckets and keys: it goes to the log (as the cause), not to the client.
  return ferryError('INTERNAL', `storage failed on ${where}; the server log has the details`, error);
}

/** Why the store cannot be used at start-up, in terms an operator can act on. */
export function s3StartupError(error: unknown, bucket: string, endpoint: string): FerryError {
  const where = `bucket "${bucket}" at ${endpoint || 'AWS S3'}`;
  const status = s3Status(error);
  if (status === 404 || (error instanceof S3ServiceException && error.name === 'NoSuchBucket')) {
    return ferryError('CONFIG', `the ${where} does not exist; create it, or set ${settingName('s3.bucket')} to one that does`, error);
  }
  if (status === 403 || status === 401) {
    return ferryError('CONFIG', `the ${where} refuses these credentials; check ${settingName('s3.accessKeyId')} and ${settingName('s3.secretAccessKey')}`, error);
  }
  const detail = error instanceof Error ? error.message : String(error);
  return ferryError('CONFIG', `cannot reach the ${where} (${detail}); check ${settingName('s3.endpoint')} and that the store is running`, error);
}
