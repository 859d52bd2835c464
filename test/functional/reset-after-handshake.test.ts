/**
 * A server that resets the connection right after the TLS handshake, when the
 * client's greeting arrives and before it is answered: what a server being stopped (pm2 stop, a deploy) does to
 * a client that reached it a moment too late. The client must see a lost
 * connection (exit 5, retried where retries are allowed), not die of an 'error'
 * event nobody listened to.
 */
import test from 'ava';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import { createServer } from 'node:tls';
import { certificateFingerprint } from '../../src/protocol/fingerprint.js';
import { ferry } from '../helpers/cli.js';
import { freshKnownHostsFile, testCertificate } from '../helpers/tls.js';

const TRIES = 24;

test('a connection reset just after the TLS handshake is a lost connection, not a crash of the client', async (t) => {
  const { cert, key } = await testCertificate();
  const raw = new Map<number, Socket>();
  const delays = Array.from({ length: TRIES }, (_, n) => n % 6);
  const server = createServer({ cert, key });
  server.on('connection', (socket: Socket) => {
    socket.on('error', () => undefined);
    if (socket.remotePort !== undefined) raw.set(socket.remotePort, socket);
  });
  server.on('secureConnection', (secure) => {
    secure.on('error', () => undefined);
    const socket = secure.remotePort === undefined ? undefined : raw.get(secure.remotePort);
    // A reset (RST), as a process that exits with the connection open sends, at a
    // moment that moves from one try to the next: just after the handshake, while
    // the client checks the certificate or sends its greeting.
    setTimeout(() => (socket ? socket.resetAndDestroy() : secure.destroy()), delays.shift() ?? 0);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;

  // The certificate pinned in a known_hosts file, as after a first use: checking it
  // reads the file, so the reset arrives while the client waits on that read.
  const knownHosts = freshKnownHostsFile();
  await writeFile(knownHosts, `127.0.0.1:${port} ${certificateFingerprint(new X509Certificate(cert))}\n`);
  for (let n = 0; n < TRIES; n++) {
    const result = await ferry(['--retries', '0', 'ls', '/'], {
      env: { FERRY_SERVER: `127.0.0.1:${port}`, FERRY_KNOWN_HOSTS: knownHosts, FERRY_USER: 'someone', FERRY_PASSWORD: 'pw' },
    });
    t.false(result.stderr.includes("Unhandled 'error' event"), `try ${n + 1}: ${result.stderr}`);
    t.is(result.code, 5, `try ${n + 1}: ${result.stderr}`);
  }
});
