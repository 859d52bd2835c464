/**
 * The S3 backend, as the rest of the server sees it. Loaded only by a dynamic
 * import when the server is configured for S3: it brings in the AWS SDK.
 */

export { S3Storage } from './storage.js';
export type { S3StorageOptions } from './client.js';
