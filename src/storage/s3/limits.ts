/**
 * Limits of the S3 API that configuration and the backend both respect. Free of
 * the AWS SDK, so that configuration can check them without loading it.
 */

/** The smallest part S3 accepts (every part but the last). */
export const S3_MIN_PART_BYTES = 5 * 2 ** 20;
/** The most parts one multipart upload may have. */
export const S3_MAX_PARTS = 10_000;
/** The largest object a single CopyObject may copy. */
export const S3_MAX_COPY_BYTES = 5 * 2 ** 30;
/** The longest key S3 takes, in UTF-8 bytes. */
export const S3_MAX_KEY_BYTES = 1024;
/** The most keys one DeleteObjects call may name. */
export const S3_MAX_DELETE_BATCH = 1000;
