/**
 * How the web client starts, or why it does not: off with FERRY_WEB=false, off
 * (with a warning) without TLS, and a taken port that leaves the file service
 * running and says why.
 */

import test from 'ava';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { tempDir } from '../helpers/files.js';
import { spawnServer } from '../helpers/server.js';

async function start(t: Parameters<typeof spawnServer>[0], env: Record<string, string>) {
  return spawnServer(t, { FERRY_DATA_DIR: await tempDir(t, 'ferry-web-start-'), FERRY_ADMIN_PASSWORD: 'start-password', ...env });
}

test('a web port already in use leaves the file service running and the log says why', async (t) => {
  const taken = createServer();
  taken.listen(0, '127.0.0.1');
  await once(taken, 'listening');
  t.teardown(() => taken.close());
  const server = await start(t, { FERRY_WEB_PORT: String((taken.address() as AddressInfo).port) });
  const off = await server.waitForLog((line) => line.event === 'web-off');
  t.is(off.reason, 'listen');
  t.regex(String(off.msg), /the web client is off: cannot listen on 127\.0\.0\.1:\d+ .*FERRY_WEB_PORT/);
  t.false(server.logs.some((line) => line.event === 'web-listening'));
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});

test('FERRY_WEB=false starts no web client; FERRY_TLS=false turns it off with a warning', async (t) => {
  const off = await start(t, { FERRY_WEB: 'false' });
  off.child.kill('SIGTERM');
  t.is(await off.exited, 0);
  t.false(off.logs.some((line) => String(line.event).startsWith('web-')));
  const plain = await start(t, { FERRY_TLS: 'false' });
  const warning = await plain.waitForLog((line) => line.event === 'web-off');
  t.is(warning.reason, 'tls-off');
  plain.child.kill('SIGTERM');
  t.is(await plain.exited, 0);
});
