/**
 * `--progress=json`: one JSON object per line on stderr for long transfers
 * (start, progress, file, end), stdout left to the result.
 */

import test from 'ava';
import { join } from 'node:path';
import { ferry } from '../helpers/cli.js';
import { randomFile, tempDir } from '../helpers/files.js';
import { startServer } from '../helpers/server.js';

function lines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('--progress=json prints start, progress, file and end events as JSON lines on stderr; stdout keeps the result', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  const size = 6 * 1024 * 1024;
  await randomFile(join(local, 'big.bin'), size);
  const result = await ferry(['--progress=json', 'upload', join(local, 'big.bin')], { env: server.env });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^uploaded .*big\.bin -> \/big\.bin/m);
  const events = lines(result.stderr);
  t.deepEqual(events[0], { event: 'start', files: 1, bytes: size });
  const progress = events.filter((event) => event.event === 'progress');
  t.true(progress.length >= 1);
  for (const event of progress) t.like(event, { file: '/big.bin', total: size });
  t.is(progress.at(-1)?.bytes, size, 'the last progress line is the whole file');
  t.like(events.find((event) => event.event === 'file'), { file: '/big.bin', bytes: size, ok: true });
  t.like(events.at(-1), { event: 'end', files: 1, bytes: size });
});

test('--progress=json on a pipe has no total (the size is not known), and the result stays on stdout', async (t) => {
  const server = await startServer(t);
  const result = await ferry(['--progress=json', 'upload', '-', 'piped.txt'], { env: server.env, input: 'x'.repeat(300_000) });
  t.is(result.code, 0, result.stderr);
  const progress = lines(result.stderr).filter((event) => event.event === 'progress');
  t.true(progress.length >= 1);
  t.like(progress[0], { file: '/piped.txt' });
  t.false('total' in (progress[0] as object));
  t.regex(result.stdout, /uploaded standard input -> \/piped\.txt/);
});

test('--progress takes bars, json or none', async (t) => {
  const result = await ferry(['--progress=fancy', 'ls'], { env: { FERRY_PASSWORD: 'x' } });
  t.is(result.code, 2);
  t.regex(result.stderr, /argument 'fancy' is invalid\. Allowed choices are bars, json, none/);
});
