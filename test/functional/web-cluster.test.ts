/**
 * The web client in cluster mode: every worker serves it on the shared port, a
 * login made on one worker is honoured by the others (the cookie is sealed with a
 * key every worker derives from the same TLS key), and an upload finished through
 * one worker is visible through all.
 */

import test from 'ava';
import { randomBytes } from 'node:crypto';
import { sha256, tempDir } from '../helpers/files.js';
import { spawnServer } from '../helpers/server.js';
import { lanAddresses } from '../../src/app/announce.js';
import { eventually } from '../helpers/tools.js';
import { webLogin } from '../helpers/web.js';

test('with two workers the web client answers on one port and a login holds on every worker', async (t) => {
  const dataDir = await tempDir(t, 'ferry-web-cluster-');
  const server = await spawnServer(t, { FERRY_WORKERS: '2', FERRY_DATA_DIR: dataDir, FERRY_ADMIN_PASSWORD: 'cluster-admin-password', FERRY_AUTH_FAILURE_DELAY: '0' });
  const web = await server.waitForLog((line) => line.event === 'web-listening');
  // Browsers show the certificate's SHA-256 in hex: the start-up line gives it so.
  t.regex(String(web.fingerprint), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  const addresses = server.logs.filter((line) => line.event === 'web-address').map((line) => String(line.url));
  t.deepEqual(addresses, lanAddresses().map(({ address }) => `https://${address}:${web.port as number}/`));
  const origin = `https://127.0.0.1:${web.port as number}`;
  const session = await webLogin(origin, { user: 'admin', password: 'cluster-admin-password' });
  const body = randomBytes(100_000);
  const created = await session.call('POST', '/api/tus', {
    headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': String(body.length), 'Upload-Metadata': `filename ${Buffer.from('shared.bin').toString('base64')}` },
  });
  t.is(created.status, 201);
  const done = await session.call('PATCH', String(created.headers.location), {
    headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    body,
  });
  t.is(done.status, 204);
  // Each request is a new connection, spread over the workers by the cluster.
  for (let request = 0; request < 12; request++) {
    const stat = await session.call('GET', '/api/stat?path=/shared.bin');
    t.is(stat.status, 200);
    t.is(stat.json().sha256, sha256(body));
  }
  // A logout on one worker holds on all: the old cookie is refused wherever it lands.
  t.is((await session.call('POST', '/api/logout', { json: {} })).status, 200);
  // (The word reaches the other worker over IPC a moment after the answer.)
  const refusedEverywhere = await eventually(async () => {
    const statuses = [];
    for (let request = 0; request < 12; request++) statuses.push((await session.call('GET', '/api/stat?path=/shared.bin')).status);
    return statuses.every((status) => status === 401) ? statuses : undefined;
  }, 15_000);
  t.is(refusedEverywhere.length, 12);
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});

test('a logout holds on workers started after it: after a rolling restart (SIGHUP) the old cookie is refused on every worker', async (t) => {
  const dataDir = await tempDir(t, 'ferry-web-cluster-roll-');
  const server = await spawnServer(t, { FERRY_WORKERS: '2', FERRY_DATA_DIR: dataDir, FERRY_ADMIN_PASSWORD: 'cluster-admin-password', FERRY_AUTH_FAILURE_DELAY: '0' });
  await server.waitForLog((line) => line.event === 'workers-ready');
  const web = await server.waitForLog((line) => line.event === 'web-listening');
  const origin = `https://127.0.0.1:${web.port as number}`;
  const session = await webLogin(origin, { user: 'admin', password: 'cluster-admin-password' });
  t.is((await session.call('GET', '/api/session')).status, 200);
  t.is((await session.call('POST', '/api/logout', { json: {} })).status, 200);
  // Wait until the primary heard of it (every worker refuses the cookie), then replace all workers.
  await eventually(async () => {
    const statuses = [];
    for (let request = 0; request < 8; request++) statuses.push((await session.call('GET', '/api/session')).status);
    return statuses.every((status) => status === 401) ? true : undefined;
  }, 15_000);
  server.child.kill('SIGHUP');
  await server.waitForLog((line) => line.event === 'reloaded');
  const statuses = [];
  // Each request is a new connection, spread over the new workers.
  for (let request = 0; request < 12; request++) statuses.push((await session.call('GET', '/api/session')).status);
  t.deepEqual(statuses, Array.from({ length: 12 }, () => 401));
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});
