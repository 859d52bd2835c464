/**
 * How the web client starts, or why it does not: off with FERRY_WEB=false, off
 * (with a warning) without TLS, and a taken port that leaves the file service
 * running and says why.
 */

import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { lanAddresses } from '../../src/app/announce.js';
import { SERVER_BIN } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { spawnServer } from '../helpers/server.js';
import { missingTools, runnableIf } from '../helpers/tools.js';

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

/** The QR code carries a LAN address, and util-linux script gives the server a terminal. */
const qrUnmet = missingTools('script') ?? (lanAddresses().length === 0 ? 'needs a LAN address to put in a QR code' : undefined);

runnableIf(qrUnmet)('on a terminal the start-up prints a QR code of the web address; in a log file it does not', async (t) => {
  const env = {
    ...process.env,
    FERRY_DATA_DIR: await tempDir(t, 'ferry-web-qr-'),
    FERRY_ADMIN_PASSWORD: 'qr-password',
    FERRY_HOST: '127.0.0.1',
    FERRY_PORT: '0',
    FERRY_OPS_HOST: '127.0.0.1',
    FERRY_OPS_PORT: '0',
    FERRY_WEB_HOST: '127.0.0.1',
    FERRY_WEB_PORT: '0',
    FERRY_WORKERS: '0',
    FERRY_MDNS: 'false',
  };
  // util-linux script runs the server on a fresh pseudo-terminal.
  const child = spawn('script', ['-qfec', `${process.execPath} ${SERVER_BIN} start`, '/dev/null'], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // Already gone.
    }
  });
  let screen = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      screen += chunk.toString();
      if (screen.includes('"event":"web-address"') && screen.includes('\u2584\u2584\u2584\u2584\u2584\u2584\u2584')) resolve();
    });
    child.once('exit', () => reject(new Error(`the server ended before its QR code:\n${screen}`)));
  });
  t.regex(screen, /from a phone or browser: https:\/\//);
  // Without a terminal (spawnServer pipes stdout) the log stays JSON lines only.
  const piped = await spawnServer(t, { FERRY_DATA_DIR: await tempDir(t, 'ferry-web-noqr-'), FERRY_ADMIN_PASSWORD: 'qr-password' });
  await piped.waitForLog((line) => line.event === 'web-listening');
  piped.child.kill('SIGTERM');
  t.is(await piped.exited, 0);
  t.true(piped.logs.some((line) => line.event === 'web-address'));
  t.true(piped.logs.every((line) => !String(line.msg ?? '').includes('\u2584')));
});
