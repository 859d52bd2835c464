import test from 'ava';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BatchedFileWriter } from '../../src/io/batched-writer.js';
import { tempDir } from '../helpers/files.js';
import { eventually } from '../helpers/tools.js';

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
