/**
 * Pooled reads for downloads: the chunks cover exactly the bytes asked for, come
 * from a few reused buffers, and none is read into while it is still lent out.
 */

import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXPIRED, withDeadline } from '../../src/io/deadline.js';
import { pooledChunks } from '../../src/server/read-pool.js';
import type { ReadableFile } from '../../src/storage/storage.js';

const MiB = 1024 * 1024;
/** Only turns a hang into a failure. */
const HANG_MS = 10_000;
/** How long a reader that should be held back is watched for running ahead. */
const HELD_MS = 300;

function memoryFile(bytes: Buffer): ReadableFile & Required<Pick<ReadableFile, 'readAt'>> & { reads: number } {
  const file = {
    size: bytes.length,
    mtime: 0,
    reads: 0,
    stream: () => Readable.from([bytes]),
    readAt: async (into: Buffer, position: number) => {
      file.reads++;
      return bytes.copy(into, 0, position, Math.min(bytes.length, position + into.length));
    },
    close: async () => undefined,
  };
  return file;
}

test('the chunks are exactly the bytes from start to end, read into at most three reused buffers', async (t) => {
  const bytes = randomBytes(10 * MiB + 12_345);
  const seen = new Set<ArrayBuffer>();
  const parts: Buffer[] = [];
  for await (const { bytes: chunk, release } of pooledChunks(memoryFile(bytes).readAt, 777, bytes.length)) {
    seen.add(chunk.buffer as ArrayBuffer);
    parts.push(Buffer.from(chunk));
    release();
  }
  t.true(Buffer.concat(parts).equals(bytes.subarray(777)));
  t.true(seen.size <= 3, `${seen.size} distinct buffers`);
});

test('no buffer is read into while the consumer still holds it: with all three lent out, reading waits', async (t) => {
  const file = memoryFile(randomBytes(8 * MiB));
  const chunks = pooledChunks(file.readAt, 0, file.size);
  const held = [];
  for (let i = 0; i < 3; i++) {
    const next = await chunks.next();
    if (next.done) throw new Error('ended early');
    held.push({ copy: Buffer.from(next.value.bytes), ...next.value });
  }
  await sleep(HELD_MS);
  t.is(file.reads, 3, 'no fourth read while every buffer is held');
  t.true(held.every(({ copy, bytes }) => copy.equals(bytes)), 'held chunks are unchanged');
  held[0]?.release();
  const fourth = await withDeadline(chunks.next(), HANG_MS);
  t.not(fourth, EXPIRED, 'a released buffer is read into again');
  t.true(held.slice(1).every(({ copy, bytes }) => copy.equals(bytes)), 'chunks still held are unchanged');
  t.not(await withDeadline(chunks.return(undefined), HANG_MS), EXPIRED, 'stopping early with buffers still lent out does not hang');
});
