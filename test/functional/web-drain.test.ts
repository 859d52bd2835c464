/**
 * A drain (SIGTERM) with web connections open: an idle keep-alive connection, a
 * client stuck half-way through its headers and one that never began its TLS
 * handshake do not hold the server until the drain deadline.
 */

import test from 'ava';
import { once } from 'node:events';
import { Agent, request } from 'node:https';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tempDir } from '../helpers/files.js';
import { spawnServer } from '../helpers/server.js';

/** Far below the 60 s drain deadline the server is given. */
const PROMPT_EXIT_MS = 5_000;

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
    const slowClosed = once(slow, 'close');

    // One that never starts its TLS handshake.
    const silent = connect({ host: '127.0.0.1', port });
    t.teardown(() => silent.destroy());
    silent.on('error', () => undefined);
    await once(silent, 'connect');
    const silentClosed = once(silent, 'close');
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
