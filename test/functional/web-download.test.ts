/**
 * Downloads from the web client resume the way HTTP clients expect: `curl -C -`
 * and `wget -c` continue a download a cut connection broke off, using Range; the
 * ETag is the SHA-256, so If-None-Match, If-Range and the answers to bad ranges
 * behave as RFC 9110 says.
 */

import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TransferRecord } from '../../src/server/session.js';
import { sha256, tempDir } from '../helpers/files.js';
import { startProxy } from '../helpers/proxy.js';
import { withTools } from '../helpers/tools.js';
import { startWebServer, webLogin } from '../helpers/web.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

async function exitCode(command: string, args: string[]): Promise<number> {
  try {
    await run(command, args, { timeout: 60_000 });
    return 0;
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

withTools('curl')('curl -C - resumes a download a cut connection broke off, and the file is intact', async (t) => {
  const server = await startWebServer(t);
  const data = randomBytes(24 * MiB + 7);
  await writeFile(join(server.filesDir, 'movie.bin'), data);
  const session = await webLogin(server.origin);
  const proxy = await startProxy(t, server.webPort, { cuts: [6 * MiB] });
  const out = join(await tempDir(t, 'ferry-curl-'), 'movie.bin');
  const url = `https://127.0.0.1:${proxy.port}/api/download?path=/movie.bin`;
  const curl = ['-sS', '-k', '--pinnedpubkey', `sha256//${server.spki}`, '--cookie', session.cookie, '-o', out];
  const first = await exitCode('curl', [...curl, url]);
  t.not(first, 0, 'the first download was cut');
  const partial = (await stat(out)).size;
  t.true(partial > 0 && partial < data.length, `partial ${partial}`);
  t.is(await exitCode('curl', [...curl, '-C', '-', url]), 0);
  t.is(sha256(await readFile(out)), sha256(data));
  t.is(proxy.connections(), 2);
});

withTools('wget')('wget -c resumes a cut download', async (t) => {
  const server = await startWebServer(t);
  const data = randomBytes(16 * MiB + 3);
  await writeFile(join(server.filesDir, 'disk.img'), data);
  const session = await webLogin(server.origin);
  const proxy = await startProxy(t, server.webPort, { cuts: [5 * MiB] });
  const out = join(await tempDir(t, 'ferry-wget-'), 'disk.img');
  const url = `https://127.0.0.1:${proxy.port}/api/download?path=/disk.img`;
  const wget = ['-q', '--no-check-certificate', '--tries=1', '--header', `Cookie: ${session.cookie}`, '-O', out];
  t.not(await exitCode('wget', [...wget, url]), 0);
  t.true((await stat(out)).size < data.length);
  t.is(await exitCode('wget', ['-c', ...wget, url]), 0);
  t.is(sha256(await readFile(out)), sha256(data));
});

test('Range, ETag, If-None-Match and If-Range answers', async (t) => {
  const server = await startWebServer(t);
  const data = randomBytes(10_000);
  await writeFile(join(server.filesDir, 'page.bin'), data);
  const session = await webLogin(server.origin);
  const path = '/api/download?path=/page.bin';
  const etag = `"sha256-${sha256(data)}"`;

  const whole = await session.call('GET', path);
  t.is(whole.status, 200);
  t.is(whole.headers.etag, etag);
  t.is(whole.headers['accept-ranges'], 'bytes');
  t.is(whole.headers['content-length'], '10000');
  t.deepEqual(whole.body, data);

  const middle = await session.call('GET', path, { headers: { Range: 'bytes=100-199' } });
  t.is(middle.status, 206);
  t.is(middle.headers['content-range'], 'bytes 100-199/10000');
  t.deepEqual(middle.body, data.subarray(100, 200));

  const tail = await session.call('GET', path, { headers: { Range: 'bytes=-50' } });
  t.is(tail.status, 206);
  t.deepEqual(tail.body, data.subarray(9950));

  const open = await session.call('GET', path, { headers: { Range: 'bytes=9990-' } });
  t.is(open.headers['content-range'], 'bytes 9990-9999/10000');
  t.deepEqual(open.body, data.subarray(9990));

  const beyond = await session.call('GET', path, { headers: { Range: 'bytes=10000-' } });
  t.is(beyond.status, 416);
  t.is(beyond.headers['content-range'], 'bytes */10000');

  const cached = await session.call('GET', path, { headers: { 'If-None-Match': etag } });
  t.is(cached.status, 304);
  t.is(cached.body.length, 0);

  // A Range for other content than the file now holds gets the whole file.
  const stale = await session.call('GET', path, { headers: { Range: 'bytes=0-9', 'If-Range': '"sha256-0000"' } });
  t.is(stale.status, 200);
  t.is(stale.body.length, 10_000);
  const current = await session.call('GET', path, { headers: { Range: 'bytes=0-9', 'If-Range': etag } });
  t.is(current.status, 206);

  const head = await session.call('HEAD', path);
  t.is(head.status, 200);
  t.is(head.headers['content-length'], '10000');
  t.is(head.body.length, 0);

  const missing = await session.call('GET', '/api/download?path=/nothing-here');
  t.is(missing.status, 404);
  t.is(missing.json().code, 'NOT_FOUND');
});

test('a reader may download but not change anything; web downloads and uploads count in the transfer metrics', async (t) => {
  const transfers: TransferRecord[] = [];
  const server = await startWebServer(t, {}, {
    connectionOpened: () => undefined,
    connectionClosed: () => undefined,
    auth: () => undefined,
    transfer: (record) => transfers.push(record),
  });
  await writeFile(join(server.filesDir, 'shared.txt'), 'for everyone');
  await server.users.add('reader', 'reader-password', { home: '/', permissions: ['list', 'read'] });
  const reader = await webLogin(server.origin, { user: 'reader', password: 'reader-password' });
  t.is((await reader.call('GET', '/api/download?path=/shared.txt')).body.toString(), 'for everyone');
  for (const [route, json] of [
    ['/api/mkdir', { path: '/new' }],
    ['/api/delete', { path: '/shared.txt' }],
    ['/api/rename', { from: '/shared.txt', to: '/mine.txt' }],
  ] as const) {
    const refused = await reader.call('POST', route, { json });
    t.is(refused.status, 403, route);
    t.is(refused.json().code, 'PERMISSION_DENIED');
  }
  const upload = await reader.call('POST', '/api/tus', { headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '1', 'Upload-Metadata': `filename ${Buffer.from('a').toString('base64')}` } });
  t.is(upload.status, 403);
  // An upload through the web counts as CLI uploads do.
  const admin = await webLogin(server.origin);
  const created = await admin.call('POST', '/api/tus', { headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '5', 'Upload-Metadata': `filename ${Buffer.from('five.txt').toString('base64')}` } });
  await admin.call('PATCH', String(created.headers.location), { headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, body: 'fives' });
  t.deepEqual(
    transfers.map(({ direction, result, bytes }) => ({ direction, result, bytes })),
    [
      { direction: 'download', result: 'ok', bytes: 12 },
      { direction: 'upload', result: 'ok', bytes: 5 },
    ],
  );
});
