/**
 * Writes a stream of socket-sized chunks to a file in large vectored writes, so a
 * transfer costs one system call per megabyte rather than one per chunk. A full
 * batch is written behind the caller's back while the next one fills, so the disk
 * and the network work at the same time; at most one batch is in flight, which
 * bounds a transfer's memory to two batches. When the sender stalls, what has
 * arrived is written out after a short pause rather than left waiting for a full
 * batch: a process killed while its peer is stalled (kill -9, a crash) then keeps
 * everything it received, and an interrupted transfer resumes from there. Used by
 * the server's local storage and by the client's downloads.
 */

import type { FileHandle } from 'node:fs/promises';
import { IdleWrite } from './idle-write.js';

export const WRITE_BATCH_BYTES = 1024 * 1024;

export class BatchedFileWriter {
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  /** The batch being written; settles (never rejects) once it is on its way to the disk or failed. */
  private inFlight: Promise<void> = Promise.resolve();
  /** The first write failure, reported by the next write or flush. */
  private failure: unknown;
  private failed = false;
  private readonly idle = new IdleWrite(
    () => this.queuedBytes > 0,
    () => this.writeNext(),
  );
  /** Bytes the file system has taken so far, in order from the first. */
  private writtenBytes = 0;

  constructor(readonly handle: FileHandle) {}

  async write(chunk: Buffer): Promise<void> {
    this.queued.push(chunk);
    this.queuedBytes += chunk.length;
    if (this.queuedBytes < WRITE_BATCH_BYTES) {
      this.idle.touch();
      return;
    }
    // The batch before this one must be done first: writes land in order, and memory stays bounded.
    await this.settle();
    this.writeNext();
  }

  get written(): number {
    return this.writtenBytes;
  }

  /** Writes everything queued and waits for every write to be done. */
  async flush(): Promise<void> {
    this.idle.cancel();
    this.writeNext();
    await this.settle();
  }

  /** Queues a write of what is queued now behind the one in flight: one write at a time, in order. */
  private writeNext(): void {
    this.inFlight = this.inFlight
      .then(() => (this.failed ? undefined : this.writeQueued()))
      .catch((error: unknown) => {
        this.failed = true;
        this.failure = error;
      });
  }

  private async settle(): Promise<void> {
    await this.inFlight;
    if (this.failed) throw this.failure;
  }

  private async writeQueued(): Promise<void> {
    if (this.queuedBytes === 0) return;
    const buffers = this.queued;
    const total = this.queuedBytes;
    this.queued = [];
    this.queuedBytes = 0;
    const { bytesWritten } = await this.handle.writev(buffers);
    // writev may stop short (rare on regular files); write the rest in order.
    let rest = bytesWritten < total ? Buffer.concat(buffers).subarray(bytesWritten) : Buffer.alloc(0);
    while (rest.length > 0) {
      const written = await this.handle.write(rest);
      rest = rest.subarray(written.bytesWritten);
    }
    this.writtenBytes += total;
  }
}
