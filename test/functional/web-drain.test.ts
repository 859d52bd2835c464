/**
 * A drain (SIGTERM) with web connections open: an idle keep-alive connection, a
 * client stuck half-way through its headers and one that never began its TLS
 * handshake do not hold the server until the drain deadline. And a client that
 * never finishes its headers loses its connection at the headers timeout.
 */

import test from 'ava';
import { once } from 'node:events';
import { Agent, request } from 'node:https';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tempDir } from '../helpers/files.js';
import { spawnServer } from '../helpers/server.js';
import { startWebServer } from '../helpers/web.js';

/** Far below the 60 s drain deadline the server is given. */
const PROMPT_EXIT_MS = 5_000;

/**
 * Resolves once `socket` has closed, however it was ended. The drain destroys a
 * connection stuck in its headers; when its worker had not yet read those bytes
 * (a loaded machine), the kernel ends it with a reset rather than a FIN, and the
 * client sees ECONNRESET before 'close'. events.once would reject on that error.
 */
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

for (const workers of [0, 2]) {
  test.serial(`FERRY_WORKERS=${workers}: SIGTERM with idle, slow-header and pre-handshake web connections exits promptly`, async (t) => {
    const dataDir = await tempDir(t, 'ferry-web-drain-');
    const server = await spawnServer(t, { FERRY_DATA_DIR: dataDir, FERRY_WORKERS: String(workers), FERRY_ADMIN_PASSWORD: 'drain-password', FERRY_DRAIN_TIMEOUT: '60s' });
    if (workers > 0) await server.waitForLog((line) => line.event === 'workers-ready');
    const web = await server.waitForLog((line) => line.event === 'web-listening');
    const port = web.port as number;

    // An idle keep-alive connection, as a browser leaves after loading the page.
    const agent = new Agent({ keepAlive: true, rejectUnauthorized: false });
    t.teardown(() => agent.destroy());
    const page = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      });
      req.once('error', reject);
      req.end();
    });
    t.is(page, 200);

    // A client that sends half its headers and then nothing.
    const slow = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    t.teardown(() => slow.destroy());
    slow.on('error', () => undefined);
    await once(slow, 'secureConnect');
    slow.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const slowClosed = closed(slow);

    // One that never starts its TLS handshake.
    const silent = connect({ host: '127.0.0.1', port });
    t.teardown(() => silent.destroy());
    silent.on('error', () => undefined);
    await once(silent, 'connect');
    const silentClosed = closed(silent);
    silent.resume();

    const signalled = performance.now();
    server.child.kill('SIGTERM');
    const code = await server.exited;
    const exitMs = performance.now() - signalled;
    t.is(code, 0);
    t.true(exitMs < PROMPT_EXIT_MS, `the server exited ${Math.round(exitMs)} ms after SIGTERM`);
    await Promise.all([slowClosed, silentClosed]);
    t.false(server.logs.some((line) => line.event === 'worker-kill'), 'no worker was killed at the deadline');
    t.log(`exited ${Math.round(exitMs)} ms after SIGTERM`);
  });
}

test('a client that never finishes its headers is cut off at the 10 s headers timeout, not at the idle timeout', async (t) => {
  const server = await startWebServer(t, { FERRY_IDLE_TIMEOUT: '10m' });
  const slow = tlsConnect({ host: '127.0.0.1', port: server.webPort, rejectUnauthorized: false });
  t.teardown(() => slow.destroy());
  slow.on('error', () => undefined);
  await once(slow, 'secureConnect');
  const started = performance.now();
  slow.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  const closed = once(slow, 'close');
  slow.resume(); // The 408 answer is read, so the end of the connection is seen.
  const cutOff = await Promise.race([closed.then(() => performance.now() - started), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 30_000).unref())]);
  t.not(cutOff, undefined, 'the connection was still open after 30 s');
  t.true((cutOff ?? 0) >= 9_000, `cut off after ${Math.round(cutOff ?? 0)} ms`);
  t.log(`cut off ${Math.round(cutOff ?? 0)} ms after the first header bytes`);
});
