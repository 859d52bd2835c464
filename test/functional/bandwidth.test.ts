import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { startServer } from '../helpers/server.js';

test('a per-connection bandwidth limit paces uploads and downloads to its rate', async (t) => {
  const limit = 2 * 1024 * 1024;
  const server = await startServer(t, { limits: { bandwidthLimit: limit } });
  const client = await server.connect();
  const data = randomBytes(5 * 1024 * 1024);
  // The bucket starts with one second's worth, so 5 MiB at 2 MiB/s takes at least 1.5 s.
  const floor = (data.length - limit) / limit;

  let started = performance.now();
  await client.upload('/paced.bin', { size: data.length, open: () => Readable.from([data]) });
  const upSeconds = (performance.now() - started) / 1000;
  t.true(upSeconds >= floor * 0.95, `upload took ${upSeconds.toFixed(2)} s`);

  started = performance.now();
  let received = 0;
  await client.download('/paced.bin', { write: async (chunk) => void (received += chunk.length) });
  const downSeconds = (performance.now() - started) / 1000;
  t.is(received, data.length);
  t.true(downSeconds >= floor * 0.95, `download took ${downSeconds.toFixed(2)} s`);
  t.log(`at ${limit} B/s: upload ${upSeconds.toFixed(2)} s, download ${downSeconds.toFixed(2)} s for ${data.length} bytes`);
});
