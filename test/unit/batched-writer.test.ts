import test from 'ava';
import { randomBytes } from 'node:crypto';
import { open, readFile, stat, statfs, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BatchedFileWriter, WRITE_BATCH_BYTES } from '../../src/io/batched-writer.js';
import { systemErrorCode } from '../../src/protocol/errors.js';
import { tempDir } from '../helpers/files.js';
import { cannotMountTmpfs, mountTmpfs } from '../helpers/tmpfs.js';
import { eventually, runnableIf } from '../helpers/tools.js';

test('what arrived before the sender stalled reaches the file without waiting for a full batch or a flush', async (t) => {
  const file = join(await tempDir(t), 'stalled.bin');
  const handle = await open(file, 'w');
  t.teardown(() => handle.close());
  const writer = new BatchedFileWriter(handle);
  await writer.write(Buffer.from('first '));
  await writer.write(Buffer.from('second'));
  // A process killed now (kill -9) keeps what the file holds: no flush will come.
  await eventually(async () => ((await stat(file)).size === 12 ? true : undefined), 10_000, 5);
  await writer.write(Buffer.from(' third'));
  await writer.flush();
  t.is(await readFile(file, 'utf8'), 'first second third', 'later writes land after, in order');
});

test('batches written while the stream stalls and resumes keep every byte in order', async (t) => {
  const file = join(await tempDir(t), 'order.bin');
  const handle = await open(file, 'w');
  t.teardown(() => handle.close());
  const writer = new BatchedFileWriter(handle);
  const expected: Buffer[] = [];
  for (let round = 0; round < 20; round++) {
    for (let index = 0; index < 5; index++) {
      const chunk = Buffer.alloc(round % 3 === 0 ? 300 * 1024 : 7, round * 5 + index);
      expected.push(chunk);
      await writer.write(chunk);
    }
    if (round % 4 === 0) await new Promise((resolve) => setTimeout(resolve, 30)); // A stall long enough for an idle write.
  }
  await writer.flush();
  t.true((await readFile(file)).equals(Buffer.concat(expected)));
});

/** The bytes of `views` from the start, at most `most` of them, as views of the same memory. */
function prefix(views: readonly NodeJS.ArrayBufferView[], most: number): Uint8Array[] {
  const taken: Uint8Array[] = [];
  let left = most;
  for (const view of views) {
    if (left === 0) break;
    const bytes = new Uint8Array(view.buffer, view.byteOffset, Math.min(view.byteLength, left));
    taken.push(bytes);
    left -= bytes.length;
  }
  return taken;
}

interface ShortWrites {
  /** Calls that wrote less than they were asked to. */
  short: number;
}

/**
 * Makes a real file handle stop short, as write(2) and writev(2) may: each call
 * writes at most `most` bytes, for real, and says so. libuv already continues
 * regular files' short writes inside one call, so only a full disk (the tmpfs
 * test below) makes the kernel's short write reach the writer; this shows that
 * whatever a call leaves over is written next, in order.
 */
function stopShort(handle: FileHandle, most: number): ShortWrites {
  const seen: ShortWrites = { short: 0 };
  const writev = handle.writev.bind(handle);
  const write = handle.write.bind(handle) as (buffer: NodeJS.ArrayBufferView, offset?: number | null, length?: number | null, position?: number | null) => Promise<{ bytesWritten: number }>;
  const cappedWritev = async (buffers: readonly NodeJS.ArrayBufferView[], position?: number) => {
    const asked = buffers.reduce((sum, view) => sum + view.byteLength, 0);
    const { bytesWritten } = await writev(prefix(buffers, most), position);
    if (bytesWritten < asked) seen.short++;
    return { bytesWritten, buffers };
  };
  type WriteOptions = { offset?: number; length?: number; position?: number | null };
  const cappedWrite = async (buffer: NodeJS.ArrayBufferView, offsetOrOptions?: number | null | WriteOptions, length?: number | null, position?: number | null) => {
    const options: WriteOptions = typeof offsetOrOptions === 'object' && offsetOrOptions !== null ? offsetOrOptions : { offset: offsetOrOptions ?? 0, ...(length === undefined || length === null ? {} : { length }), position: position ?? null };
    const offset = options.offset ?? 0;
    const asked = options.length ?? buffer.byteLength - offset;
    const { bytesWritten } = await write(buffer, offset, Math.min(asked, most), options.position ?? null);
    if (bytesWritten < asked) seen.short++;
    return { bytesWritten, buffer };
  };
  handle.writev = cappedWritev as FileHandle['writev'];
  handle.write = cappedWrite as FileHandle['write'];
  return seen;
}

test('a write the file takes only part of is continued: every byte lands once, in order', async (t) => {
  const file = join(await tempDir(t), 'short.bin');
  const handle = await open(file, 'w');
  t.teardown(() => handle.close());
  const writes = stopShort(handle, 100_003);
  const writer = new BatchedFileWriter(handle);
  const chunks = Array.from({ length: 40 }, (_, index) => randomBytes(64 * 1024 + index));
  for (const chunk of chunks) await writer.write(chunk);
  await writer.flush();
  t.true(writes.short > 0, 'the handle did stop short');
  const written = await readFile(file);
  t.is(written.length, chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  t.true(written.equals(Buffer.concat(chunks)), 'the file holds the chunks in order, each byte once');
});

runnableIf(cannotMountTmpfs())('on a disk that fills in the middle of a batch, the part that fit is kept in order and the rest fails with ENOSPC, not dropped in silence', async (t) => {
  const volume = await mountTmpfs(t, 1024 * 1024);
  // A filler leaves less room than one batch, so the kernel takes only part of the next write.
  await writeFile(join(volume, 'filler.bin'), Buffer.alloc(1024 * 1024 - 320 * 1024));
  const room = (await statfs(volume)).bavail * (await statfs(volume)).bsize;
  const handle = await open(join(volume, 'data.bin'), 'w');
  t.teardown(() => handle.close());
  const writer = new BatchedFileWriter(handle);
  // One batch exactly: nothing written after it would meet the full disk in its place.
  const data = randomBytes(WRITE_BATCH_BYTES);
  const failure = await (async () => {
    for (let offset = 0; offset < data.length; offset += 16 * 1024) await writer.write(data.subarray(offset, offset + 16 * 1024));
    await writer.flush();
  })().then(
    () => undefined,
    (error: unknown) => error,
  );
  t.is(systemErrorCode(failure), 'ENOSPC', 'the write the disk could not hold fails');
  const kept = await readFile(join(volume, 'data.bin'));
  t.true(kept.length > 0 && kept.length <= room, `the file holds what fit (${kept.length} of ${room} bytes free)`);
  t.true(kept.equals(data.subarray(0, kept.length)), 'what was kept is the start of the data, in order');
});
