/** Limits of the S3 multipart API that configuration and the backend both respect. */

/** The smallest part S3 accepts (every part but the last). */
export const S3_MIN_PART_BYTES = 5 * 2 ** 20;
/** The most parts one multipart upload may have. */
export const S3_MAX_PARTS = 10_000;
/** The largest object a single CopyObject may copy. */
export const S3_MAX_COPY_BYTES = 5 * 2 ** 30;
