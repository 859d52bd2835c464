/**
 * Writes a stream of socket-sized chunks to a file in large vectored writes, so a
 * transfer costs one system call per megabyte rather than one per chunk. Used by
 * the server's local storage and by the client's downloads.
 */

import type { FileHandle } from 'node:fs/promises';

export const WRITE_BATCH_BYTES = 1024 * 1024;

export class BatchedFileWriter {
  private queued: Buffer[] = [];
  private queuedBytes = 0;

  constructor(readonly handle: FileHandle) {}

  async write(chunk: Buffer): Promise<void> {
    this.queued.push(chunk);
    this.queuedBytes += chunk.length;
    if (this.queuedBytes >= WRITE_BATCH_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
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
  }
}
