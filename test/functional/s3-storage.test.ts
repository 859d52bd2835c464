/**
 * What only the S3 backend has: resume records in the bucket, digests in object
 * metadata, and a store that can be missing or go away. Against a real
 * S3-compatible server (s3rver) on loopback.
 */

import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../../src/protocol/errors.js';
import { S3Storage } from '../../src/storage/s3/index.js';
import { ferry } from '../helpers/cli.js';
import { sha256, tempDir } from '../helpers/files.js';
import { startS3 } from '../helpers/s3.js';
import { ADMIN, spawnServer, startServer } from '../helpers/server.js';
import { s3Files } from '../helpers/stored.js';
import { eventually } from '../helpers/tools.js';

const MB = 1024 * 1024;
const upload = { noClobber: false, resumable: true, offset: 0, prefixSha256: '' };

test('a suspended upload keeps its whole parts and a record in the bucket; resume status offers them, and a sweep gives them up', async (t) => {
  const s3 = await startS3(t);
  const storage = new S3Storage(s3.options); // 5 MiB parts
  await storage.open();
  t.teardown(() => storage.close());
  const home = await storage.forHome([], 'admin');
  const data = randomBytes(12 * MB);
  const target = await home.beginUpload(['big.bin'], { ...upload, size: 24 * MB });
  for (let at = 0; at < data.length; at += MB) await target.write(data.subarray(at, at + MB));
  await target.suspend();

  // Two whole parts (10 MiB) are kept; the last 2 MiB were too few for a part of their own.
  const status = await home.resumeStatus(['big.bin'], 24 * MB);
  t.deepEqual(status, { offset: 10 * MB, prefixSha256: sha256(data.subarray(0, 10 * MB)) });
  t.is((await s3Files(s3.client, s3.bucket).leftovers()).length, 1, 'one upload record');
  t.deepEqual((await home.resumeStatus(['big.bin'], 23 * MB)).offset, 0, 'another size is another upload');

  // A client claiming other first bytes is refused and told to start over.
  const wrong = await home.beginUpload(['big.bin'], { ...upload, size: 24 * MB, offset: 10 * MB, prefixSha256: sha256('other') }).catch((error: unknown) => error);
  t.like(wrong, { code: 'INTEGRITY' });

  t.is(await storage.sweepPartials(60_000), 0, 'a fresh record is kept');
  t.is(await storage.sweepPartials(0), 1);
  t.deepEqual(await s3Files(s3.client, s3.bucket).leftovers(), []);
  t.is((await home.resumeStatus(['big.bin'], 24 * MB)).offset, 0);
});

test('an upload a connection still writes is busy to a resume status on this host and on another, until it is suspended', async (t) => {
  const s3 = await startS3(t);
  const here = new S3Storage(s3.options); // 5 MiB parts
  const there = new S3Storage(s3.options); // another host: its own books, the same bucket
  await Promise.all([here.open(), there.open()]);
  t.teardown(() => Promise.all([here.close(), there.close()]));
  const home = await here.forHome([], 'admin');
  const other = await there.forHome([], 'admin');
  const data = randomBytes(12 * MB);
  const target = await home.beginUpload(['big.bin'], { ...upload, size: 24 * MB });
  for (let at = 0; at < data.length; at += MB) await target.write(data.subarray(at, at + MB));

  t.like(await home.resumeStatus(['big.bin'], 24 * MB), { offset: 0, busy: true }, 'this host holds it in its books');
  // The other host knows of it only through the record's lease, written once the
  // first part is stored (the multipart upload itself shows in the bucket earlier).
  const seen = await eventually(async () => ((await other.resumeStatus(['big.bin'], 24 * MB)).busy ? true : undefined), 60_000, 20);
  t.true(seen, 'the lease tells another host');

  await target.suspend();
  const held = { offset: 10 * MB, prefixSha256: sha256(data.subarray(0, 10 * MB)) };
  t.deepEqual(await home.resumeStatus(['big.bin'], 24 * MB), held);
  t.deepEqual(await other.resumeStatus(['big.bin'], 24 * MB), held);
});

test('a continuation refused for its first bytes keeps the room of the parts that stay in the bucket, as a suspended upload does', async (t) => {
  const s3 = await startS3(t);
  const storage = new S3Storage(s3.options); // 5 MiB parts
  await storage.open();
  t.teardown(() => storage.close());
  const home = await storage.forHome(['quota'], 'quinn', { bytes: 30 * MB, entries: 0 });
  const data = randomBytes(12 * MB);
  const target = await home.beginUpload(['big.bin'], { ...upload, size: 24 * MB });
  for (let at = 0; at < data.length; at += MB) await target.write(data.subarray(at, at + MB));
  await target.suspend();

  const wrong = await home.beginUpload(['big.bin'], { ...upload, size: 24 * MB, offset: 10 * MB, prefixSha256: sha256('other') }).catch((error: unknown) => error);
  t.like(wrong, { code: 'INTEGRITY' });
  t.is((await s3Files(s3.client, s3.bucket).leftovers()).length, 1, 'its record (and parts) stay');
  // 24 MiB stay reserved for the suspended upload: 20 MiB more do not fit in 30 MiB.
  const other = await home.beginUpload(['other.bin'], { ...upload, resumable: false, size: 20 * MB }).catch((error: unknown) => error);
  t.like(other, { code: 'QUOTA_EXCEEDED' });
  // The upload can still be continued from what the bucket holds.
  const status = await home.resumeStatus(['big.bin'], 24 * MB);
  t.is(status.offset, 10 * MB);
});

test('a continued upload picks up the SHA-256 where the parts end and completes the same multipart upload', async (t) => {
  const s3 = await startS3(t);
  const storage = new S3Storage(s3.options);
  await storage.open();
  t.teardown(() => storage.close());
  const home = await storage.forHome(['team'], 'alice');
  const data = randomBytes(17 * MB + 5);
  const first = await home.beginUpload(['a', 'b.bin'], { ...upload, size: data.length });
  for (let at = 0; at < 11 * MB; at += MB) await first.write(data.subarray(at, at + MB));
  await first.suspend();
  const { offset, prefixSha256 } = await home.resumeStatus(['a', 'b.bin'], data.length);
  t.is(offset, 10 * MB);

  const second = await home.beginUpload(['a', 'b.bin'], { ...upload, size: data.length, offset, prefixSha256 });
  for (let at = offset; at < data.length; at += MB) await second.write(data.subarray(at, Math.min(at + MB, data.length)));
  const digest = second.digest().toString('hex');
  t.is(digest, sha256(data), 'the digest covers the whole file');
  await second.commit(digest);

  const stored = s3Files(s3.client, s3.bucket);
  t.is(await stored.sha256('team/a/b.bin'), sha256(data));
  t.deepEqual(await stored.leftovers(), []);
  const head = await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'files/team/a/b.bin' }));
  t.is(head.Metadata?.sha256, sha256(data), 'the SHA-256 travels in the object metadata');
});

test('files big and small carry their SHA-256 in metadata, and a stored object that no longer matches it is refused on download (exit 6)', async (t) => {
  const server = await startServer(t, { backend: 's3' });
  const s3 = server.s3!;
  const local = await tempDir(t);
  const small = randomBytes(1000);
  const large = randomBytes(7 * MB);
  await writeFile(join(local, 'small.bin'), small);
  await writeFile(join(local, 'large.bin'), large);
  const up = await ferry(['upload', join(local, 'small.bin'), join(local, 'large.bin')], { env: server.env });
  t.is(up.code, 0, up.stderr);
  for (const [name, data] of [['small.bin', small], ['large.bin', large]] as const) {
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `files/${name}` }));
    t.is(head.Metadata?.sha256, sha256(data), name);
  }

  // Damage in the store (another writer, bit rot) that kept the old metadata.
  const damaged = Buffer.from(small);
  damaged[500] = (damaged[500] ?? 0) ^ 0xff;
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'files/small.bin', Body: damaged, Metadata: { sha256: sha256(small) } }));
  const back = await tempDir(t);
  const down = await ferry(['--retries', '0', 'download', '/small.bin', '-d', back], { env: server.env });
  t.is(down.code, 6, down.stderr);
  t.regex(down.stderr, /no longer matches the SHA-256 recorded when it was stored/);
  t.deepEqual(
    (await readdir(back)).filter((name) => name === 'small.bin'),
    [],
    'the damaged bytes never appear under the name',
  );
});

test('a missing bucket or an unreachable store stops the server at start with what to fix', async (t) => {
  const s3 = await startS3(t);
  const missing = new S3Storage({ ...s3.options, bucket: 'no-such-bucket' });
  t.teardown(() => missing.close());
  const noBucket = await t.throwsAsync(missing.open(), { instanceOf: FerryError });
  t.regex(noBucket.message, /bucket "no-such-bucket" at http:\/\/127\.0\.0\.1:\d+ does not exist; create it, or set FERRY_S3_BUCKET/);

  await s3.stop();
  const gone = new S3Storage(s3.options);
  t.teardown(() => gone.close());
  const unreachable = await t.throwsAsync(gone.open(), { instanceOf: FerryError });
  t.regex(unreachable.message, /cannot reach the bucket "ferry" at .*; check FERRY_S3_ENDPOINT and that the store is running/);
});

test('when the store goes away, /readyz answers 503 and requests fail with STORAGE_UNAVAILABLE (exit 5)', async (t) => {
  const s3 = await startS3(t);
  const dataDir = await tempDir(t);
  const server = await spawnServer(t, { ...s3.env, FERRY_DATA_DIR: dataDir, FERRY_ADMIN_PASSWORD: ADMIN.password });
  const env = { ...server.env, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password };
  t.is((await fetch(`http://127.0.0.1:${server.opsPort}/readyz`)).status, 200);
  const local = await tempDir(t);
  await writeFile(join(local, 'note.txt'), 'hello');

  await s3.stop();
  t.is((await fetch(`http://127.0.0.1:${server.opsPort}/readyz`)).status, 503, 'not ready without its storage');
  const failed = await ferry(['--retries', '0', 'upload', join(local, 'note.txt')], { env });
  t.is(failed.code, 5, failed.stderr);
  t.regex(failed.stderr, /cannot reach its storage just now .*try again in a minute/);
});
