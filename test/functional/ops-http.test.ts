/**
 * The ops HTTP port faces the LAN too: /metrics can require a token, health
 * endpoints stay open, and slow or piled-up connections are cut.
 */

import test from 'ava';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { ferryServer } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { scrape } from '../helpers/metrics.js';
import { ADMIN, spawnServer } from '../helpers/server.js';
import { eventually } from '../helpers/tools.js';

const TOKEN = 'a-long-random-ops-token';

test('with FERRY_OPS_TOKEN, /metrics answers 401 without the bearer token or with a wrong one, and health endpoints stay open', async (t) => {
  const server = await spawnServer(t, { FERRY_DATA_DIR: await tempDir(t), FERRY_ADMIN_PASSWORD: ADMIN.password, FERRY_OPS_TOKEN: TOKEN });
  const base = `http://127.0.0.1:${server.opsPort}`;
  const bare = await fetch(`${base}/metrics`);
  t.is(bare.status, 401);
  t.is(bare.headers.get('www-authenticate'), 'Bearer');
  t.regex(await bare.text(), /Authorization: Bearer/);
  t.is((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer not-the-token' } })).status, 401);
  t.is((await fetch(`${base}/metrics`, { headers: { authorization: `Basic ${TOKEN}` } })).status, 401);
  t.regex(await scrape(server.opsPort, TOKEN), /ferry_connections_total/);
  t.is((await fetch(`${base}/healthz`)).status, 200);
  t.is((await fetch(`${base}/readyz`)).status, 200);
  t.false(JSON.stringify(server.logs).includes(TOKEN), 'the token is never logged');
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});

test('ferry-server config never prints the ops token', async (t) => {
  const result = await ferryServer(['config'], { env: { FERRY_OPS_TOKEN: TOKEN } });
  t.is(result.code, 0, result.stderr);
  t.false(result.stdout.includes(TOKEN));
  t.regex(result.stdout, /"token": "\[Sensitive\]"|"token":"\[Sensitive\]"/);
});

test('the ops port caps its connections and closes those that never finish their request headers', async (t) => {
  const server = await spawnServer(t, { FERRY_DATA_DIR: await tempDir(t), FERRY_ADMIN_PASSWORD: ADMIN.password });
  const opened = Date.now();
  const sockets: Socket[] = await Promise.all(
    Array.from({ length: 100 }, async () => {
      const socket = connect({ host: '127.0.0.1', port: server.opsPort });
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'); // and never the blank line
      socket.resume();
      return socket;
    }),
  );
  t.teardown(() => sockets.forEach((socket) => socket.destroy()));
  const isClosed = (socket: Socket): boolean => socket.destroyed || socket.readableEnded;
  await eventually(async () => (sockets.filter(isClosed).length >= 36 ? true : undefined), 5_000, 50);
  t.true(sockets.filter((socket) => !isClosed(socket)).length <= 64, 'at most 64 held at once');
  await eventually(async () => (sockets.every(isClosed) ? true : undefined), 30_000, 200);
  t.log(`every slow connection closed after ${Date.now() - opened} ms`);
  t.is((await fetch(`http://127.0.0.1:${server.opsPort}/healthz`)).status, 200, 'then the port serves again');
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});
