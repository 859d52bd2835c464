/**
 * The web client as an attacker meets it: state changes without the CSRF token,
 * the session cookie's flags, hostile paths through every HTTP route (the same
 * rules as the TCP protocol), sessions that end when their user is removed or
 * their password changes, and one login book for both doors.
 */

import test from 'ava';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { FerryClient } from '../../src/client/client.js';
import { FerryError } from '../../src/protocol/errors.js';
import { loopbackAddress } from '../helpers/tls.js';
import { eventually } from '../helpers/tools.js';
import { WEB_ADMIN, startWebServer, webLogin, webRequest } from '../helpers/web.js';

test('the session cookie is HttpOnly, Secure and SameSite=Strict, and the page is not framable', async (t) => {
  const server = await startWebServer(t);
  const session = await webLogin(server.origin);
  const flags = session.setCookie.split(';').map((part) => part.trim());
  t.true(flags.includes('HttpOnly'));
  t.true(flags.includes('Secure'));
  t.true(flags.includes('SameSite=Strict'));
  t.true(flags.includes('Path=/'));
  const page = await webRequest(server.origin, 'GET', '/');
  t.is(page.status, 200);
  t.regex(String(page.headers['content-security-policy']), /frame-ancestors 'none'/);
  t.is(page.headers['x-frame-options'], 'DENY');
});

test('every state change without the CSRF token is refused and changes nothing', async (t) => {
  const server = await startWebServer(t);
  await writeFile(join(server.filesDir, 'keep.txt'), 'still here');
  const session = await webLogin(server.origin);
  const attempts: [string, string, unknown][] = [
    ['POST', '/api/mkdir', { path: '/made-by-csrf' }],
    ['POST', '/api/delete', { path: '/keep.txt' }],
    ['POST', '/api/rename', { from: '/keep.txt', to: '/moved.txt' }],
    ['POST', '/api/logout', {}],
  ];
  for (const [method, path, json] of attempts) {
    const refused = await session.call(method, path, { json, csrf: false });
    t.is(refused.status, 403, `${path} without the token`);
    t.is(refused.json().code, 'PERMISSION_DENIED');
    const forged = await session.call(method, path, { json, csrf: false, headers: { 'X-CSRF-Token': `${session.csrf.slice(0, -2)}xx` } });
    t.is(forged.status, 403, `${path} with a wrong token`);
  }
  const tus = await session.call('POST', '/api/tus', {
    csrf: false,
    headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '4', 'Upload-Metadata': `filename ${Buffer.from('x.txt').toString('base64')}` },
  });
  t.is(tus.status, 403);
  const listing = await session.call('GET', '/api/list?path=/');
  t.deepEqual(
    (listing.json().entries as { name: string }[]).map((entry) => entry.name).sort(),
    ['keep.txt'],
  );
  // With the token the same request works: the refusal was the token's doing.
  t.is((await session.call('POST', '/api/mkdir', { json: { path: '/made-with-token' } })).status, 201);
});

test('requests without a session are refused', async (t) => {
  const server = await startWebServer(t);
  for (const path of ['/api/list?path=/', '/api/download?path=/x', '/api/session']) {
    const answer = await webRequest(server.origin, 'GET', path);
    t.is(answer.status, 401, path);
    t.is(answer.json().code, 'AUTH_REQUIRED');
  }
  const forged = await webRequest(server.origin, 'GET', '/api/list?path=/', { headers: { Cookie: 'ferry_session=eyJ1c2VyIjoiYWRtaW4ifQ.forged' } });
  t.is(forged.status, 401);
});

/** Paths the TCP protocol refuses before they reach storage (see path-escape.test.ts). */
const HOSTILE = [
  '../outside.txt',
  '/../outside.txt',
  'a/../../outside.txt',
  '..',
  'a\\..\\..\\outside.txt',
  'name\u0000.txt',
  'bad\u202Efdp.exe',
  'line\u2028break',
  'ctrl\u0007bell',
  `${'x'.repeat(256)}.txt`,
  `${'d/'.repeat(2100)}f`,
];

test('hostile paths are refused through every HTTP route, as over TCP', async (t) => {
  const server = await startWebServer(t);
  await mkdir(join(server.dataDir, 'outside-dir'), { recursive: true });
  const session = await webLogin(server.origin);
  for (const hostile of HOSTILE) {
    const query = encodeURIComponent(hostile);
    const answers = [
      await session.call('GET', `/api/list?path=${query}`),
      await session.call('GET', `/api/stat?path=${query}`),
      await session.call('GET', `/api/download?path=${query}`),
      await session.call('POST', '/api/mkdir', { json: { path: hostile } }),
      await session.call('POST', '/api/delete', { json: { path: hostile } }),
      await session.call('POST', '/api/rename', { json: { from: hostile, to: 'safe.txt' } }),
      await session.call('POST', '/api/rename', { json: { from: 'safe.txt', to: hostile } }),
      await session.call('POST', '/api/tus', {
        headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '4', 'Upload-Metadata': `filename ${Buffer.from(hostile).toString('base64')}` },
      }),
      await session.call('POST', '/api/tus', {
        headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '4', 'Upload-Metadata': `filename ${Buffer.from('f.txt').toString('base64')},folder ${Buffer.from(hostile).toString('base64')}` },
      }),
    ];
    for (const answer of answers) {
      t.is(answer.status, 400, `${JSON.stringify(hostile).slice(0, 60)}: ${answer.body.toString().slice(0, 200)}`);
      t.is(answer.json().code, 'BAD_PATH');
    }
  }
  // A forged tus upload id naming a path outside the home is refused the same way.
  const forgedId = Buffer.from('4::/../outside.txt').toString('base64url');
  const forged = await session.call('PATCH', `/api/tus/${forgedId}`, {
    headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    body: 'evil',
  });
  t.is(forged.status, 400);
  t.is(forged.json().code, 'BAD_PATH');
});

test('a web session ends when its user is removed or their password changes', async (t) => {
  const server = await startWebServer(t);
  await server.addUser('carol', 'carol-password');
  await server.addUser('dave', 'dave-password');
  const carol = await webLogin(server.origin, { user: 'carol', password: 'carol-password' });
  const dave = await webLogin(server.origin, { user: 'dave', password: 'dave-password' });
  t.is((await carol.call('GET', '/api/list?path=/')).status, 200);
  t.is((await dave.call('GET', '/api/list?path=/')).status, 200);

  await server.users.remove('carol');
  await server.users.setPassword('dave', 'dave-new-password');
  // The server hears of the edit through its watch on the users file.
  const removed = await eventually(async () => {
    const answer = await carol.call('GET', '/api/list?path=/');
    return answer.status === 200 ? undefined : answer;
  }, 15_000);
  t.is(removed.status, 401);
  t.is(removed.json().code, 'SESSION_REVOKED');
  t.regex(String(removed.headers['set-cookie']), /Max-Age=0/);
  const changed = await eventually(async () => {
    const answer = await dave.call('GET', '/api/list?path=/');
    return answer.status === 200 ? undefined : answer;
  }, 15_000);
  t.is(changed.status, 401);
  t.is(changed.json().code, 'SESSION_REVOKED');
  // Logging in again with the new password works.
  const again = await webLogin(server.origin, { user: 'dave', password: 'dave-new-password' });
  t.is((await again.call('GET', '/api/list?path=/')).status, 200);
});

test('an upload in flight stops when its user is removed, and nothing of it becomes visible', async (t) => {
  const server = await startWebServer(t);
  await server.addUser('erin', 'erin-password');
  const erin = await webLogin(server.origin, { user: 'erin', password: 'erin-password' });
  const created = await erin.call('POST', '/api/tus', {
    headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': String(64 * 1024 * 1024), 'Upload-Metadata': `filename ${Buffer.from('held.bin').toString('base64')}` },
  });
  t.is(created.status, 201);
  const url = new URL(String(created.headers.location), server.origin);
  const upload = request(url, {
    method: 'PATCH',
    rejectUnauthorized: false,
    agent: false,
    headers: { Cookie: erin.cookie, 'X-CSRF-Token': erin.csrf, 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': String(64 * 1024 * 1024) },
  });
  const ended = new Promise<void>((resolve) => {
    upload.on('error', () => resolve());
    upload.on('close', () => resolve());
  });
  // Some data goes out, then the upload waits, as a phone on slow Wi-Fi would.
  upload.write(Buffer.alloc(256 * 1024));
  await new Promise<void>((resolve) => upload.once('socket', (socket) => socket.once('secureConnect', () => resolve())));
  await server.users.remove('erin');
  // The server ends it: otherwise this would wait for the idle timeout, long past the test's.
  await ended;
  t.false(upload.writableFinished, 'the upload never finished');
  await t.throwsAsync(access(join(server.filesDir, 'erin', 'held.bin')));
});

test('connections to the web client count against the same per-address limit as the file service', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const server = await startWebServer(t, { FERRY_MAX_CONNECTIONS_PER_IP: '2', FERRY_HANDSHAKE_TIMEOUT: '60s' }, undefined, lines);
  // Two raw connections to the file service, held in their TLS handshake, use up the address's share.
  const held = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port: server.service.port }, () => resolve(socket));
          socket.on('error', reject);
        }),
    ),
  );
  t.teardown(() => held.forEach((socket) => socket.destroy()));
  await t.throwsAsync(webRequest(server.origin, 'GET', '/'));
  // The refusal is logged as the file service logs its own.
  t.true(lines.some((line) => line.event === 'busy' && line.remote === '127.0.0.1'), 'the web door logged the over-limit refusal');
  for (const socket of held) socket.destroy();
  t.is((await eventually(async () => webRequest(server.origin, 'GET', '/').catch(() => undefined), 15_000)).status, 200);
});

test('web logins and changes write the same audit lines as the CLI', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const server = await startWebServer(t, {}, undefined, lines);
  const session = await webLogin(server.origin);
  await session.call('POST', '/api/mkdir', { json: { path: '/audited' } });
  await session.call('POST', '/api/rename', { json: { from: '/audited', to: '/renamed' } });
  await session.call('POST', '/api/delete', { json: { path: '/../escape' } });
  await session.call('POST', '/api/delete', { json: { path: '/renamed', recursive: true } });
  const audit = lines.filter((line) => line.audit === true).map(({ event, user, path, from, to, result, code }) => ({ event, user, path, from, to, result, code }));
  t.deepEqual(audit, [
    { event: 'auth', user: 'admin', path: undefined, from: undefined, to: undefined, result: 'success', code: undefined },
    { event: 'mkdir', user: 'admin', path: '/audited', from: undefined, to: undefined, result: 'ok', code: undefined },
    { event: 'rename', user: 'admin', path: undefined, from: '/audited', to: '/renamed', result: 'ok', code: undefined },
    { event: 'delete', user: 'admin', path: '/../escape', from: undefined, to: undefined, result: 'error', code: 'BAD_PATH' },
    { event: 'delete', user: 'admin', path: '/renamed', from: undefined, to: undefined, result: 'ok', code: undefined },
  ]);
});

test('logout ends the session', async (t) => {
  const server = await startWebServer(t);
  const session = await webLogin(server.origin);
  const out = await session.call('POST', '/api/logout', { json: {} });
  t.is(out.status, 200);
  t.regex(String(out.headers['set-cookie']), /Max-Age=0/);
  t.is((await session.call('GET', '/api/list?path=/')).status, 401);
});

test('failed web logins count in the same book as TCP logins: the ban holds on both doors', async (t) => {
  const server = await startWebServer(t, { FERRY_BAN_THRESHOLD: '3', FERRY_ACCOUNT_BAN_THRESHOLD: '3' });
  for (let attempt = 0; attempt < 3; attempt++) {
    const wrong = await webRequest(server.origin, 'POST', '/api/login', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user: 'admin', password: 'wrong' }) });
    t.is(wrong.status, 401);
    t.is(wrong.json().code, 'AUTH_FAILED');
  }
  const banned = await webRequest(server.origin, 'POST', '/api/login', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(WEB_ADMIN) });
  t.is(banned.status, 429);
  t.is(banned.json().code, 'BANNED');
  const fingerprint = server.service.fingerprint;
  const client = await FerryClient.connect(loopbackAddress(server.service.port, fingerprint));
  t.teardown(() => client.close());
  const error = await t.throwsAsync(client.login(WEB_ADMIN.user, WEB_ADMIN.password));
  t.true(error instanceof FerryError);
  t.is((error as FerryError).code, 'BANNED');
});

test('a source refused at both doors is logged once: one refusal log for the file service and the web client', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const server = await startWebServer(t, { FERRY_AUTH_LOG_INTERVAL: '1h' }, undefined, lines);
  const wrong = await webRequest(server.origin, 'POST', '/api/login', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user: 'admin', password: 'wrong' }) });
  t.is(wrong.status, 401);
  const client = await FerryClient.connect(loopbackAddress(server.service.port, server.service.fingerprint));
  t.teardown(() => client.close());
  await t.throwsAsync(client.login(WEB_ADMIN.user, 'also wrong'));
  const first = lines.filter((line) => line.event === 'auth' && line.result === 'failure');
  t.is(first.length, 1, 'one first line for the source, not one per door (the second refusal waits for the interval tally)');
});

test('a banned web login is answered after the failure delay, as over TCP, and web connections count in the connection metrics', async (t) => {
  let opened = 0;
  let closed = 0;
  const observer = { connectionOpened: () => void opened++, connectionClosed: () => void closed++, auth: () => undefined, transfer: () => undefined };
  const delayMs = 1_000;
  const server = await startWebServer(t, { FERRY_BAN_THRESHOLD: '1', FERRY_ACCOUNT_BAN_THRESHOLD: '1', FERRY_AUTH_FAILURE_DELAY: `${delayMs}ms` }, observer);
  const login = (password: string) => webRequest(server.origin, 'POST', '/api/login', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user: 'admin', password }) });
  t.is((await login('wrong')).status, 401);
  const started = performance.now();
  const banned = await login(WEB_ADMIN.password);
  const tookMs = performance.now() - started;
  t.is(banned.json().code, 'BANNED');
  t.true(tookMs >= delayMs * 0.9, `the ban was answered after ${Math.round(tookMs)} ms`);
  t.is(opened, 2, 'each web connection is counted once its TLS handshake is done');
  await eventually(async () => (closed === 2 ? true : undefined), 15_000);
});
