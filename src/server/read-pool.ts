/**
 * Reads a file through a few buffers that are reused once the socket has let go of
 * them, rather than a new 1 MiB buffer per read: a 1 GiB download otherwise leaves
 * a thousand such buffers to the garbage collector.
 */

import type { ReadableFile } from '../storage/storage.js';

type ReadAt = NonNullable<ReadableFile['readAt']>;

/** Buffers per download: one being sent, one being read ahead, one spare. */
const POOL_BUFFERS = 3;
const POOL_BUFFER_BYTES = 1024 * 1024;

export interface PooledChunk {
  bytes: Buffer;
  /** Gives the buffer back; call it once nothing (the socket included) reads `bytes` any more. */
  release(): void;
}

/**
 * At most `count` buffers of `bytes`, made when first needed (a small file's
 * download needs one, of its own size); take() waits while all are lent out.
 */
class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiting: { resolve: (buffer: Buffer) => void; reject: (error: Error) => void }[] = [];
  private closed = false;
  private made = 0;

  constructor(
    private readonly count: number,
    private readonly bytes: number,
  ) {}

  take(): Promise<Buffer> {
    const buffer = this.free.pop();
    if (buffer) return Promise.resolve(buffer);
    if (this.made < this.count && !this.closed) {
      this.made++;
      return Promise.resolve(Buffer.allocUnsafeSlow(this.bytes));
    }
    if (this.closed) return Promise.reject(new Error('the buffer pool is closed'));
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  give(buffer: Buffer): void {
    const next = this.waiting.shift();
    if (next) next.resolve(buffer);
    else this.free.push(buffer);
  }

  /** Fails whoever still waits: the buffers they wait for may never come back (a broken connection). */
  close(): void {
    this.closed = true;
    for (const { reject } of this.waiting.splice(0)) reject(new Error('the buffer pool is closed'));
  }
}

/**
 * The bytes from `start` to `end` of the file `readAt` reads, each chunk in a pooled
 * buffer that the consumer must release; the next chunk is read while the consumer
 * handles one.
 */
export async function* pooledChunks(readAt: ReadAt, start: number, end: number): AsyncGenerator<PooledChunk> {
  const pool = new BufferPool(POOL_BUFFERS, Math.max(1, Math.min(POOL_BUFFER_BYTES, end - start)));
  const readFrom = async (position: number): Promise<PooledChunk | undefined> => {
    if (position >= end) return undefined;
    const buffer = await pool.take();
    const length = await readAt(buffer.subarray(0, Math.min(buffer.length, end - position)), position);
    if (length === 0) {
      pool.give(buffer);
      return undefined;
    }
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      pool.give(buffer);
    };
    return { bytes: buffer.subarray(0, length), release };
  };
  // The read ahead may fail while the consumer is busy: it is awaited (and thrown) later.
  const ahead = (position: number): Promise<PooledChunk | undefined> => {
    const read = readFrom(position);
    read.catch(() => undefined);
    return read;
  };
  let position = start;
  let next = ahead(position);
  try {
    for (;;) {
      const chunk = await next;
      if (!chunk) return;
      position += chunk.bytes.length;
      next = ahead(position);
      yield chunk;
    }
  } finally {
    pool.close();
    // A read ahead still under way must not outlive the file's handle unobserved.
    await next.then((chunk) => chunk?.release(), () => undefined);
  }
}
