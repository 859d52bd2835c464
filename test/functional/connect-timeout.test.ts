/**
 * A server that takes the TCP connection but does not get to the TLS handshake in
 * time (a host still starting its workers, or draining for a restart) is a lost
 * connection, which the client retries; only a host that does not answer at all
 * (packets dropped, see cli-messages.test.ts) fails at once with the doctor hint.
 */

import test from 'ava';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { FerryClient } from '../../src/client/client.js';
import { FerryError } from '../../src/protocol/errors.js';
import { withRetries } from '../../src/cli/connect-retries.js';
import { loopbackAddress } from '../helpers/tls.js';

const FINGERPRINT = `SHA256:${'A'.repeat(43)}`;

test('a server that accepts the connection but not the TLS handshake in time is a lost connection, and it is retried', async (t) => {
  const sockets: Socket[] = [];
  const silent = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const address = { ...loopbackAddress((silent.address() as AddressInfo).port, FINGERPRINT), connectTimeoutMs: 300 };
  let tries = 0;
  const error: unknown = await withRetries(1, () => {
    tries++;
    return FerryClient.connect(address);
  }).catch((failure: unknown) => failure);
  t.true(error instanceof FerryError, String(error));
  t.is((error as FerryError).code, 'CONNECTION_LOST', (error as FerryError).message);
  t.regex((error as FerryError).message, /accepted the connection but did not finish the TLS handshake/);
  t.is(tries, 2, 'the one retry was made');
  t.is(sockets.length, 2);
});
