import test from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIRECT_BATCH_BYTES, DirectFileWriter, openDirect } from '../../src/io/direct-file-writer.js';
import { tempDir } from '../helpers/files.js';
import { eventually } from '../helpers/tools.js';
import { holdsAsync } from './property.js';

/** Writes `chunks` through a DirectFileWriter into a new file and returns what the file holds. */
async function writeThrough(path: string, chunks: Buffer[], direct: 'direct' | 'refused'): Promise<Buffer> {
  await writeFile(path, '');
  const ordinary = await open(path, 'r+');
  // "refused": a handle without O_DIRECT that says EINVAL, as a file system without direct I/O does.
  const directHandle = direct === 'direct' ? await openDirect(path) : await open(path, 'r+');
  if (directHandle === undefined) throw new Error(`no direct I/O on the file system of ${path}`);
  if (direct === 'refused') {
    directHandle.write = (() => Promise.reject(Object.assign(new Error('EINVAL: invalid argument, write'), { code: 'EINVAL' }))) as typeof directHandle.write;
  }
  try {
    const writer = new DirectFileWriter(directHandle, ordinary);
    for (const chunk of chunks) await writer.write(chunk);
    await writer.flush();
  } finally {
    await directHandle.close();
    await ordinary.close();
  }
  return readFile(path);
}

test('a file written directly holds exactly the bytes given, in order, whatever the chunk sizes and an unaligned tail', async (t) => {
  const dir = await tempDir(t);
  let run = 0;
  const sizes = fc.array(fc.oneof(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 60_000, max: 1_100_000 })), { minLength: 1, maxLength: 12 });
  await holdsAsync(
    t,
    fc.asyncProperty(sizes, fc.constantFrom<'direct' | 'refused'>('direct', 'refused'), async (lengths, mode) => {
      const chunks = lengths.map((length) => randomBytes(length));
      const written = await writeThrough(join(dir, `file-${run++}.bin`), chunks, mode);
      assert.ok(written.equals(Buffer.concat(chunks)), `${mode}: ${lengths.join('+')} bytes did not come back intact`);
    }),
    { numRuns: 25 },
  );
});

test('batches and a tail around the batch size land intact, directly and where the file system refuses direct writes', async (t) => {
  const dir = await tempDir(t);
  const chunks = [randomBytes(DIRECT_BATCH_BYTES + 4096), randomBytes(DIRECT_BATCH_BYTES - 1), randomBytes(7)];
  for (const mode of ['direct', 'refused'] as const) {
    t.true((await writeThrough(join(dir, `${mode}.bin`), chunks, mode)).equals(Buffer.concat(chunks)), mode);
  }
});

test('what arrived before the sender stalled reaches the file without a full batch or a flush, counted as written, and the batch still lands whole', async (t) => {
  const dir = await tempDir(t);
  for (const append of [false, true]) {
    const path = join(dir, `stalled-${append}.bin`);
    await writeFile(path, '');
    // A partial being continued is opened to append, where positioned writes go to the end.
    const ordinary = await open(path, append ? 'a' : 'r+');
    const direct = await openDirect(path);
    if (direct === undefined) throw new Error(`no direct I/O on the file system of ${path}`);
    try {
      const writer = new DirectFileWriter(direct, ordinary);
      const chunks = [randomBytes(5000), randomBytes(3000), randomBytes(DIRECT_BATCH_BYTES), randomBytes(10)];
      let sent = 0;
      for (const chunk of chunks.slice(0, 3)) {
        await writer.write(chunk);
        sent += chunk.length;
        // A process killed now (kill -9) keeps what the file holds: no flush will come.
        await eventually(async () => ((await stat(path)).size === sent && writer.written === sent ? true : undefined), 10_000, 5);
      }
      await writer.write(chunks[3] as Buffer);
      await writer.flush();
      t.is(writer.written, sent + 10);
      t.true((await readFile(path)).equals(Buffer.concat(chunks)), `append: ${append}`);
    } finally {
      await direct.close();
      await ordinary.close();
    }
  }
});
