/**
 * Writes a new file from a stream of chunks with direct I/O (O_DIRECT): the bytes go
 * from two reused, page-aligned buffers straight to the disk instead of being copied
 * into the page cache first. On a virtual machine that copy into freshly allocated
 * page-cache memory is the largest CPU cost of receiving a big file (more than its
 * SHA-256), and the data it leaves dirty must still be written back later. Direct
 * writes need aligned memory, lengths and offsets: whole batches are written direct,
 * and the unaligned tail through an ordinary handle. A file system that refuses
 * direct I/O for a write gets that write, and every later one, through the ordinary
 * handle instead.
 *
 * One batch is written while the next fills. When the sender stalls, the part of the
 * batch filled so far is written out after a short pause (through the ordinary handle
 * past its last aligned block) and written again, direct and whole, once the batch is
 * full: a process killed while its peer stalls then keeps everything it received, as
 * with BatchedFileWriter, and a steady stream pays nothing for it.
 */

import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { systemErrorCode } from '../protocol/errors.js';
import { IdleWrite } from './idle-write.js';

export const DIRECT_BATCH_BYTES = 2 * 1024 * 1024;
/** Below this size a file is written through the page cache: two aligned batches would cost more than they save. */
export const DIRECT_MIN_BYTES = 8 * 1024 * 1024;
/** Direct I/O wants memory, lengths and offsets aligned to the device's block; a page covers every common one. */
const ALIGN_BYTES = 4096;
const WASM_PAGE_BYTES = 64 * 1024;

/**
 * A buffer whose memory starts on a page boundary. Node's Buffers promise no such
 * alignment; a WebAssembly memory is mapped by whole pages, so its start is one.
 */
/** The WebAssembly global, which the compiler's library settings here declare as types only. */
const Wasm = (globalThis as unknown as { WebAssembly: { Memory: new (size: { initial: number; maximum: number }) => { buffer: ArrayBuffer } } }).WebAssembly;

function alignedBuffer(bytes: number): Buffer {
  const memory = new Wasm.Memory({ initial: Math.ceil(bytes / WASM_PAGE_BYTES), maximum: Math.ceil(bytes / WASM_PAGE_BYTES) });
  return Buffer.from(memory.buffer, 0, bytes);
}

/** Opens `path` (which must exist) for direct writes, or undefined where the file system has no direct I/O. */
export async function openDirect(path: string): Promise<FileHandle | undefined> {
  if (constants.O_DIRECT === undefined) return undefined;
  return open(path, constants.O_WRONLY | constants.O_DIRECT).catch(() => undefined);
}

export class DirectFileWriter {
  private readonly buffers = [alignedBuffer(DIRECT_BATCH_BYTES), alignedBuffer(DIRECT_BATCH_BYTES)];
  private current = 0;
  private filled = 0;
  /** Where the next batch goes in the file. */
  private position: number;
  private inFlight: Promise<void> = Promise.resolve();
  private failure: unknown;
  private failed = false;
  private direct: FileHandle | undefined;
  /** Where the bytes the file has taken so far end (not those only held in a buffer). */
  private writtenEnd: number;
  private readonly start: number;
  /** A batch that has not grown for a moment is written out as far as it is filled. */
  private readonly idle = new IdleWrite(
    () => this.filled > 0,
    () => this.writeFilledSoFar(),
  );

  /** `direct` was opened with openDirect; `ordinary` is the same file without O_DIRECT. Writing starts at `start` (aligned). */
  constructor(direct: FileHandle, private readonly ordinary: FileHandle, start = 0) {
    if (start % ALIGN_BYTES !== 0) throw new RangeError('a direct write must start at an aligned offset');
    this.direct = direct;
    this.position = start;
    this.start = start;
    this.writtenEnd = start;
  }

  /** Bytes from the start that the file has taken, not counting those still held in a buffer. */
  get written(): number {
    return this.writtenEnd - this.start;
  }

  async write(chunk: Buffer): Promise<void> {
    for (let offset = 0; offset < chunk.length; ) {
      const buffer = this.buffers[this.current] as Buffer;
      const copied = chunk.copy(buffer, this.filled, offset);
      this.filled += copied;
      offset += copied;
      if (this.filled === DIRECT_BATCH_BYTES) {
        // The other buffer must be on disk before it is filled again.
        await this.settle();
        this.launch(buffer, DIRECT_BATCH_BYTES);
        this.current = 1 - this.current;
        this.filled = 0;
      }
    }
    if (this.filled > 0) this.idle.touch();
  }

  /** Writes everything received and waits until it is written. */
  async flush(): Promise<void> {
    this.idle.cancel();
    await this.settle();
    const buffer = this.buffers[this.current] as Buffer;
    const aligned = this.filled - (this.filled % ALIGN_BYTES);
    if (aligned > 0) this.launch(buffer, aligned);
    await this.settle();
    const tail = this.filled - aligned;
    if (tail > 0) await this.writeOrdinary(buffer.subarray(aligned, this.filled), this.position);
    this.position += tail;
    this.writtenEnd = Math.max(this.writtenEnd, this.position);
    this.filled = 0;
  }

  private launch(buffer: Buffer, length: number): void {
    const at = this.position;
    this.position += length;
    this.inFlight = this.inFlight
      .then(async () => {
        if (this.failed) return;
        await this.writeBatch(buffer.subarray(0, length), at);
        this.writtenEnd = Math.max(this.writtenEnd, at + length);
      })
      .catch((error: unknown) => {
        this.failed = true;
        this.failure = error;
      });
  }

  /**
   * Writes the batch filled so far at its place without taking it from the buffer: the
   * position stays, and the full batch later overwrites these bytes with the same ones.
   */
  private writeFilledSoFar(): void {
    const buffer = this.buffers[this.current] as Buffer;
    const at = this.position;
    const length = this.filled;
    const aligned = length - (length % ALIGN_BYTES);
    this.inFlight = this.inFlight
      .then(async () => {
        if (this.failed) return;
        if (aligned > 0) await this.writeBatch(buffer.subarray(0, aligned), at);
        if (length > aligned) await this.writeOrdinary(buffer.subarray(aligned, length), at + aligned);
        this.writtenEnd = Math.max(this.writtenEnd, at + length);
      })
      .catch((error: unknown) => {
        this.failed = true;
        this.failure = error;
      });
  }

  private async writeBatch(bytes: Buffer, at: number): Promise<void> {
    if (this.direct !== undefined) {
      try {
        await writeAll(this.direct, bytes, at);
        return;
      } catch (error) {
        if (systemErrorCode(error) !== 'EINVAL') throw error;
        this.direct = undefined; // Opened, but no direct writes here: the ordinary way from now on.
      }
    }
    await this.writeOrdinary(bytes, at);
  }

  /**
   * Writes through the ordinary handle what the file does not hold yet: bytes before
   * `writtenEnd` are already there (the same ones, written while the sender stalled).
   * The handle may have been opened to append, where the kernel ignores the position and
   * writes at the end: that is `writtenEnd`, so the two agree.
   */
  private async writeOrdinary(bytes: Buffer, at: number): Promise<void> {
    const skip = Math.min(bytes.length, Math.max(0, this.writtenEnd - at));
    if (skip < bytes.length) await writeAll(this.ordinary, bytes.subarray(skip), at + skip);
  }

  private async settle(): Promise<void> {
    await this.inFlight;
    if (this.failed) throw this.failure;
  }
}

async function writeAll(handle: FileHandle, bytes: Buffer, at: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, at + done);
    done += bytesWritten;
  }
}
