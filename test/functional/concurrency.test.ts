import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FerryClient } from '../../src/client/client.js';
import { sha256, sha256Sink } from '../helpers/files.js';
import { startServer } from '../helpers/server.js';
import { BACKENDS } from '../helpers/stored.js';

function source(data: Buffer) {
  return { size: data.length, open: () => Readable.from([data]) };
}

/** Downloads into memory-free hashing; returns the SHA-256 of what arrived. */
async function downloadDigest(client: FerryClient, path: string): Promise<string> {
  const sink = sha256Sink();
  await client.download(path, sink);
  return sink.hex();
}

// Local disk only: s3rver, the S3 test server, rewrites an object in place, where a real
// store (S3, MinIO, Ceph) replaces it atomically; the S3 backend relies on the store for this.
test('a reader downloading while a writer replaces the file always sees the old or the new version whole', async (t) => {
  const server = await startServer(t);
  const versions = [randomBytes(6 * 1024 * 1024), randomBytes(3 * 1024 * 1024 + 17)];
  const known = new Set(versions.map((version) => sha256(version)));
  const writer = await server.connect();
  const reader = await server.connect();
  await writer.upload('/contested.bin', source(versions[0] as Buffer));

  let writing = true;
  const writes = (async () => {
    for (let round = 1; round <= 30; round++) await writer.upload('/contested.bin', source(versions[round % 2] as Buffer));
    writing = false;
  })();
  const seen = new Set<string>();
  let reads = 0;
  while (writing || reads < 10) {
    const got = await downloadDigest(reader, '/contested.bin');
    t.true(known.has(got), `download ${reads} was a mix of versions`);
    seen.add(got);
    reads++;
  }
  await writes;
  t.true(reads >= 10);
  t.is((await reader.stat('/contested.bin')).sha256, sha256(versions[0] as Buffer), 'the last write (round 30) wins');
  t.deepEqual(await server.stored.leftovers(), [], 'no temporary files are left');
});

// The rest runs on every storage backend.
for (const backend of BACKENDS) {
  test(`${backend}: 32 clients at once each round-trip their own files intact`, async (t) => {
    const server = await startServer(t, { backend });
    const clients = await Promise.all(Array.from({ length: 32 }, () => server.connect()));
    await Promise.all(
      clients.map(async (client, index) => {
        const files = [randomBytes(256 * 1024 + index), randomBytes(index * 1000), randomBytes(1024 * 1024)];
        await Promise.all(files.map((data, n) => client.upload(`/client-${index}/file-${n}.bin`, source(data))));
        for (const [n, data] of files.entries()) {
          t.is(await downloadDigest(client, `/client-${index}/file-${n}.bin`), sha256(data), `client ${index} file ${n}`);
        }
        await client.quit();
      }),
    );
    const admin = await server.connect();
    t.is((await admin.list('/')).length, 32);
  });

  test(`${backend}: 300 small files pipelined on one connection all land intact`, async (t) => {
    const server = await startServer(t, { backend });
    const client = await server.connect();
    const files = Array.from({ length: 300 }, (_, n) => randomBytes(n * 13));
    const results = await Promise.all(files.map((data, n) => client.upload(`/many/f${n}.bin`, source(data))));
    t.deepEqual(
      results.map((r) => r.sha256),
      files.map((file) => sha256(file)),
    );
    const listed = await client.list('/many');
    t.is(listed.length, 300);
  });

  test(`${backend}: a no-clobber upload never replaces an existing file, and a plain one does`, async (t) => {
    const server = await startServer(t, { backend });
    const client = await server.connect();
    await client.upload('/keep.txt', source(Buffer.from('first')));
    const error = await t.throwsAsync(client.upload('/keep.txt', source(Buffer.from('second')), { noClobber: true }));
    t.is((error as { code?: string }).code, 'EXISTS');
    t.is(await downloadDigest(client, '/keep.txt'), sha256(Buffer.from('first')));
    await client.upload('/keep.txt', source(Buffer.from('third')));
    t.is(await downloadDigest(client, '/keep.txt'), sha256(Buffer.from('third')));
    t.is((await client.list('/')).length, 1, 'the connection still works and nothing else appeared');
  });
}
