/**
 * Keeps a worker's memory flat during long transfers. Every socket read and file
 * read is a fresh buffer whose memory lives outside the JavaScript heap; V8 frees
 * it only after a garbage collection, which it starts on its own only once some
 * 64 MB of such buffers have piled up. A quick young-generation collection after
 * every few megabytes moved frees them while they are few. Only when the process
 * runs with --expose-gc (cluster workers do); otherwise nothing happens.
 */

// Under TLS each megabyte also passes through decrypted and encrypted copies, so
// buffers pile up about twice as fast: 8 MiB keeps a TLS worker where a plain one was.
const RECLAIM_EVERY_BYTES = 8 * 1024 * 1024;

type MinorGc = (options: { type: 'minor' }) => void;

const gc = (globalThis as { gc?: MinorGc }).gc;
let moved = 0;

/** Counts bytes that passed through; now and then lets V8 free the buffers that carried them. */
export function transferred(bytes: number): void {
  if (gc === undefined) return;
  moved += bytes;
  if (moved < RECLAIM_EVERY_BYTES) return;
  moved = 0;
  gc({ type: 'minor' });
}
