/**
 * tus 1.0 uploads through the web client, with a third-party client: tus-js-client
 * from Node sends a large file through a proxy that cuts the connection in the
 * middle and resumes from what the server holds; the stored file matches. Also the
 * protocol's answers: OPTIONS, checksum mismatch, termination, empty files, quotas.
 */

import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DefaultHttpStack, Upload, type HttpRequest } from 'tus-js-client';
import { sha256 } from '../helpers/files.js';
import { startProxy } from '../helpers/proxy.js';
import { startS3 } from '../helpers/s3.js';
import { BACKENDS, localFiles, s3Files, type Backend } from '../helpers/stored.js';
import { startWebServer, webLogin, WEB_ADMIN, type WebSessionClient } from '../helpers/web.js';
import { Readable } from 'node:stream';
import { FerryClient } from '../../src/client/client.js';
import { loopbackAddress } from '../helpers/tls.js';
import { eventually } from '../helpers/tools.js';

const MiB = 1024 * 1024;

function tusHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { 'Tus-Resumable': '1.0.0', ...extra };
}

function metadata(entries: Record<string, string>): string {
  return Object.entries(entries)
    .map(([key, value]) => `${key} ${Buffer.from(value).toString('base64')}`)
    .join(',');
}

async function create(session: WebSessionClient, name: string, size: number, extra: Record<string, string> = {}): Promise<string> {
  const created = await session.call('POST', '/api/tus', { headers: tusHeaders({ 'Upload-Length': String(size), 'Upload-Metadata': metadata({ filename: name, ...extra }) }) });
  if (created.status !== 201) throw new Error(`creation failed: ${created.status} ${created.body.toString()}`);
  return String(created.headers.location);
}

const cutAndResume = test.macro(async (t, backend: Backend) => {
  const s3 = backend === 's3' ? await startS3(t) : undefined;
  const server = await startWebServer(t, s3?.env ?? {});
  const stored = s3 ? s3Files(s3.client, s3.bucket) : localFiles(server.dataDir);
  const session = await webLogin(server.origin);
  // Each of the first two connections is cut after 12 MiB crossed it.
  const proxy = await startProxy(t, server.webPort, { cuts: [12 * MiB, 12 * MiB] });
  const data = randomBytes(40 * MiB + 123);
  const patchOffsets: number[] = [];
  await new Promise<void>((resolve, reject) => {
    const upload = new Upload(data, {
      endpoint: `https://127.0.0.1:${proxy.port}/api/tus`,
      metadata: { filename: 'big.bin', folder: '/from-tus' },
      headers: { Cookie: session.cookie, 'X-CSRF-Token': session.csrf },
      retryDelays: [0, 200, 500, 1000, 2000, 4000],
      httpStack: new DefaultHttpStack({ rejectUnauthorized: false }),
      onBeforeRequest: (req: HttpRequest) => {
        if (req.getMethod() === 'PATCH') patchOffsets.push(Number(req.getHeader('Upload-Offset')));
      },
      onSuccess: () => resolve(),
      onError: reject,
    });
    upload.start();
  });
  t.true(proxy.connections() >= 2, `connections: ${proxy.connections()}`);
  t.true(patchOffsets.some((offset) => offset > 0), `the upload resumed from a later offset (PATCH offsets ${patchOffsets.join(', ')})`);
  const kept = await stored.read('from-tus/big.bin');
  t.is(kept?.length, data.length);
  t.is(sha256(kept ?? ''), sha256(data));
  const stat = await session.call('GET', '/api/stat?path=/from-tus/big.bin');
  t.is(stat.json().sha256, sha256(data));
  t.deepEqual(await stored.leftovers(), [], 'nothing of the interrupted upload is left behind');
});

for (const backend of BACKENDS) {
  test(`tus-js-client uploads a large file through a connection cut mid-upload, resumes, and the stored file matches (${backend})`, cutAndResume, backend);
}

test('tus OPTIONS names the version and extensions; a request without Tus-Resumable is refused', async (t) => {
  const server = await startWebServer(t);
  const session = await webLogin(server.origin);
  const options = await session.call('OPTIONS', '/api/tus');
  t.is(options.status, 204);
  t.is(options.headers['tus-version'], '1.0.0');
  t.is(options.headers['tus-extension'], 'creation,termination,checksum');
  t.is(options.headers['tus-checksum-algorithm'], 'sha256');
  const old = await session.call('POST', '/api/tus', { headers: { 'Upload-Length': '3', 'Upload-Metadata': metadata({ filename: 'x' }) } });
  t.is(old.status, 412);
});

test('a PATCH whose Upload-Checksum does not match is refused with 460 and nothing is stored', async (t) => {
  const server = await startWebServer(t);
  const session = await webLogin(server.origin);
  const body = Buffer.from('the bytes that were sent');
  const location = await create(session, 'checked.txt', body.length);
  const wrong = createHash('sha256').update('other bytes').digest('base64');
  const refused = await session.call('PATCH', location, {
    headers: tusHeaders({ 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Upload-Checksum': `sha256 ${wrong}` }),
    body,
  });
  t.is(refused.status, 460);
  await t.throwsAsync(access(join(server.filesDir, 'checked.txt')));
  const right = createHash('sha256').update(body).digest('base64');
  const head = await session.call('HEAD', location, { headers: tusHeaders() });
  t.is(head.headers['upload-offset'], '0');
  const accepted = await session.call('PATCH', location, {
    headers: tusHeaders({ 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Upload-Checksum': `sha256 ${right}` }),
    body,
  });
  t.is(accepted.status, 204);
  t.is(accepted.headers['upload-offset'], String(body.length));
  t.deepEqual(await readFile(join(server.filesDir, 'checked.txt')), body);
});

test('a whole-file SHA-256 promised in the metadata that the bytes do not match stores nothing', async (t) => {
  const server = await startWebServer(t);
  const session = await webLogin(server.origin);
  const body = Buffer.from('what arrived');
  const location = await create(session, 'promised.txt', body.length, { sha256: sha256('what was promised') });
  const refused = await session.call('PATCH', location, { headers: tusHeaders({ 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }), body });
  t.is(refused.status, 460);
  t.is(refused.json().code, 'INTEGRITY');
  await t.throwsAsync(access(join(server.filesDir, 'promised.txt')));
});

test('an upload resumes at the offset the server holds, a wrong offset gets 409, termination forgets it', async (t) => {
  const server = await startWebServer(t);
  const session = await webLogin(server.origin);
  const body = randomBytes(300_000);
  const location = await create(session, 'parts.bin', body.length);
  const first = await session.call('PATCH', location, { headers: tusHeaders({ 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }), body: body.subarray(0, 100_000) });
  t.is(first.status, 204);
  t.is(first.headers['upload-offset'], '100000');
  const head = await session.call('HEAD', location, { headers: tusHeaders() });
  t.is(head.headers['upload-offset'], '100000');
  t.is(head.headers['upload-length'], '300000');
  const conflict = await session.call('PATCH', location, { headers: tusHeaders({ 'Upload-Offset': '50000', 'Content-Type': 'application/offset+octet-stream' }), body: body.subarray(50_000) });
  t.is(conflict.status, 409);
  await t.throwsAsync(access(join(server.filesDir, 'parts.bin')), undefined, 'nothing is visible before the last byte');
  const terminated = await session.call('DELETE', location, { headers: tusHeaders() });
  t.is(terminated.status, 204);
  const after = await session.call('HEAD', location, { headers: tusHeaders() });
  t.is(after.headers['upload-offset'], '0');
  await t.throwsAsync(access(join(server.filesDir, 'parts.bin')));
});

test('an empty file is stored at creation; an upload past the quota is refused', async (t) => {
  const server = await startWebServer(t, { FERRY_QUOTA: '1000' });
  const session = await webLogin(server.origin);
  await create(session, 'empty.txt', 0);
  t.is((await readFile(join(server.filesDir, 'empty.txt'))).length, 0);
  const location = await create(session, 'too-big.bin', 5000);
  const refused = await session.call('PATCH', location, { headers: tusHeaders({ 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }), body: randomBytes(5000) });
  t.is(refused.status, 413);
  t.is(refused.json().code, 'QUOTA_EXCEEDED');
  await t.throwsAsync(access(join(server.filesDir, 'too-big.bin')));
});

for (const backend of BACKENDS) {
  test(`${backend}: while another connection still writes an upload, HEAD and PATCH answer 423 Locked with Retry-After, not offset 0`, async (t) => {
    const s3 = backend === 's3' ? await startS3(t) : undefined;
    const server = await startWebServer(t, s3?.env ?? {});
    const session = await webLogin(server.origin);
    const size = 4 * MiB;
    // A resumable upload of the same file and size over TCP that sends 1 MiB and then stalls,
    // as a PATCH on another worker does when its client's Wi-Fi dropped: it holds the upload.
    const client = await FerryClient.connect(loopbackAddress(server.service.port, server.service.fingerprint));
    t.teardown(() => client.close());
    await client.login(WEB_ADMIN.user, WEB_ADMIN.password);
    const stalled = new Readable({ read() {} });
    stalled.push(randomBytes(MiB));
    t.teardown(() => stalled.destroy());
    void client.upload('/held.bin', { size, open: () => stalled }, { resumable: true }).catch(() => undefined);
    const location = await create(session, 'held.bin', size);
    const head = await eventually(async () => {
      const answer = await session.call('HEAD', location, { headers: tusHeaders() });
      return answer.status === 423 ? answer : undefined;
    }, 15_000);
    t.is(head.headers['retry-after'], '1');
    const patch = await session.call('PATCH', location, { headers: tusHeaders({ 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }), body: randomBytes(1000) });
    t.is(patch.status, 423);
  });
}
