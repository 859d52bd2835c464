import test from 'ava';
import { access, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../helpers/cli.js';
import { randomFile, tempDir } from '../helpers/files.js';
import { startProxy } from '../helpers/proxy.js';
import { READER, startServer } from '../helpers/server.js';
import { BACKENDS } from '../helpers/stored.js';

test('exit code 0: a command that worked', async (t) => {
  const server = await startServer(t);
  const result = await ferry(['mkdir', '/fine'], { env: server.env });
  t.is(result.code, 0, result.stderr);
});

test('exit code 1: another failure, such as removing a folder that is not empty, says what to do', async (t) => {
  const server = await startServer(t);
  await ferry(['mkdir', '/full/inner'], { env: server.env });
  const result = await ferry(['rm', '/full'], { env: server.env });
  t.is(result.code, 1);
  t.regex(result.stderr, /\/full is not empty; to remove it and everything in it, use rm -r \/full/);
});

test('exit code 2: wrong usage', async (t) => {
  const unknown = await ferry(['frobnicate']);
  t.is(unknown.code, 2);
  const missing = await ferry(['upload']);
  t.is(missing.code, 2);
  const badServer = await ferry(['-s', 'host:99999', 'ls'], { env: { FERRY_USER: 'x', FERRY_PASSWORD: 'y' } });
  t.is(badServer.code, 2);
  t.regex(badServer.stderr, /port must be a number from 1 to 65535/);
});

test('exit code 3: authentication failed', async (t) => {
  const server = await startServer(t);
  const result = await ferry(['ls'], { env: { ...server.env, FERRY_PASSWORD: 'wrong' } });
  t.is(result.code, 3);
  t.regex(result.stderr, /wrong user name or password/);
});

test('exit code 4: not found', async (t) => {
  const server = await startServer(t);
  const result = await ferry(['stat', '/no/such/file'], { env: server.env });
  t.is(result.code, 4);
  t.regex(result.stderr, /\/no\/such\/file does not exist/);
});

test('exit code 5: cannot connect, with the likely cause and fix', async (t) => {
  const server = await startServer(t);
  const port = server.port;
  await server.stop();
  const result = await ferry(['--retries', '1', 'ls'], { env: { ...server.env, FERRY_SERVER: `127.0.0.1:${port}` } });
  t.is(result.code, 5);
  t.regex(result.stderr, new RegExp(`cannot reach 127\\.0\\.0\\.1:${port}: connection refused; is the server running, and is port ${port} open in its firewall\\?`));
});

// Integrity is checked end to end whatever the storage backend. Over TLS a damaged
// record is refused before the digest could be; plain TCP shows the digest check.
for (const backend of BACKENDS) {
  test(`${backend}: exit code 6: data corrupted on the way up is refused and nothing is stored`, async (t) => {
    const server = await startServer(t, { backend, tls: false });
    const local = await tempDir(t);
    await randomFile(join(local, 'payload.bin'), 1024 * 1024);
    const proxy = await startProxy(t, server.port, { corruptUpstreamAt: 100_000 });
    const result = await ferry(['upload', join(local, 'payload.bin')], { env: { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` } });
    t.is(result.code, 6, result.stderr);
    t.regex(result.stderr, /SHA-256/);
    t.is(await server.stored.sha256('payload.bin'), undefined);
    t.deepEqual(await server.stored.leftovers(), [], 'no temporary file is left behind');
  });

  test(`${backend}: exit code 6: data corrupted on the way down is refused and no file appears locally`, async (t) => {
    const server = await startServer(t, { backend, tls: false });
    const local = await tempDir(t);
    await server.stored.writeRandom('payload.bin', 1024 * 1024);
    const proxy = await startProxy(t, server.port, { corruptDownstreamAt: 100_000 });
    const result = await ferry(['download', '/payload.bin', '-d', local], { env: { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` } });
    t.is(result.code, 6, result.stderr);
    t.deepEqual(await readdir(local), [], 'neither the file nor a partial is left');
  });
}

test('over TLS (the default), data altered on the way is refused with a plain message and nothing is stored', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  await randomFile(join(local, 'payload.bin'), 1024 * 1024);
  const proxy = await startProxy(t, server.port, { corruptUpstreamAt: 100_000 });
  const result = await ferry(['--retries', '0', 'upload', join(local, 'payload.bin')], { env: { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` } });
  t.not(result.code, 0, result.stderr);
  t.notRegex(result.stderr, /ssl3_|openssl\//i, 'no OpenSSL internals reach the user');
  t.is(await server.stored.sha256('payload.bin'), undefined);
});

test('exit code 7: permission denied for a read-only user', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  await writeFile(join(local, 'note.txt'), 'hi');
  const env = { ...server.env, FERRY_USER: READER.user, FERRY_PASSWORD: READER.password };
  const result = await ferry(['upload', join(local, 'note.txt')], { env });
  t.is(result.code, 7);
  t.regex(result.stderr, /may not upload \(it lacks the "write" permission\)/);
});

test('a file over the size limit is refused before any data is written (TOO_LARGE, exit code 1)', async (t) => {
  const server = await startServer(t, { limits: { maxFileSize: 1000 } });
  const local = await tempDir(t);
  await randomFile(join(local, 'big.bin'), 5000);
  const result = await ferry(['upload', join(local, 'big.bin')], { env: server.env });
  t.is(result.code, 1, result.stderr);
  t.regex(result.stderr, /accepts files up to 1000 bytes/);
  await t.throwsAsync(access(join(server.filesDir, 'big.bin')));
});
