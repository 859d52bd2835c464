import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FerryClient, type ConnectOptions } from '../../src/client/client.js';
import { EXPIRED, withDeadline } from '../../src/io/deadline.js';
import { FerryError } from '../../src/protocol/errors.js';
import { FrameType, encodeJsonFrame } from '../../src/protocol/frames.js';
import { CAPABILITIES, PROTOCOL_NAME, PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { sha256, sha256File, tempDir } from '../helpers/files.js';
import { ADMIN, spawnServer, startServer } from '../helpers/server.js';

/** The longest a drained server may outlive the last transfer. */
const EXIT_AFTER_LAST_TRANSFER_MS = 2_000;

async function loggedIn(t: ExecutionContext, address: ConnectOptions): Promise<FerryClient> {
  const client = await FerryClient.connect(address);
  t.teardown(() => client.close());
  await client.login(ADMIN.user, ADMIN.password);
  return client;
}

/**
 * SIGTERM lands while a large upload is in flight, beside an idle logged-in
 * connection and one that never got past the handshake: the upload completes
 * intact and the server exits 0 soon after it, not at the drain deadline.
 */
async function drainsRightAfterTheLastTransfer(t: ExecutionContext, workers: number): Promise<void> {
  const dataDir = await tempDir(t);
  const server = await spawnServer(t, { FERRY_DATA_DIR: dataDir, FERRY_WORKERS: String(workers), FERRY_ADMIN_PASSWORD: ADMIN.password, FERRY_DRAIN_TIMEOUT: '60s' });
  if (workers > 0) await server.waitForLog((line) => line.event === 'workers-ready');
  const idle = await loggedIn(t, server.address);
  const silent = connect({ host: '127.0.0.1', port: server.port });
  t.teardown(() => silent.destroy());
  await once(silent, 'connect');
  const silentClosed = once(silent, 'close');
  silent.resume();

  const uploader = await loggedIn(t, server.address);
  const block = randomBytes(1024 * 1024);
  const blocks = 160;
  const expected = sha256(Buffer.concat(Array.from({ length: blocks }, () => block)));
  let signalled = false;
  const result = await uploader.upload(
    '/draining.bin',
    { size: blocks * block.length, open: () => Readable.from(Array.from({ length: blocks }, () => block)) },
    {
      onProgress: (done) => {
        if (signalled || done < 16 * 1024 * 1024) return;
        signalled = true;
        server.child.kill('SIGTERM');
      },
    },
  );
  const lastTransferEnded = performance.now();
  // As the command line does when it is done: says goodbye on the connection it used.
  await uploader.quit();
  const code = await server.exited;
  const exitMs = performance.now() - lastTransferEnded;

  t.true(signalled, 'SIGTERM was sent while the upload was in flight');
  t.is(result.sha256, expected);
  t.is(code, 0);
  t.true(exitMs < EXIT_AFTER_LAST_TRANSFER_MS, `the server exited ${Math.round(exitMs)} ms after the last transfer ended`);
  t.is(await sha256File(join(dataDir, 'files', 'draining.bin')), expected, 'the file on disk is whole');
  await silentClosed;
  const afterDrain = await idle.list('/').then(
    () => 'answered',
    (error: unknown) => (error instanceof FerryError ? error.code : String(error)),
  );
  t.is(afterDrain, 'CONNECTION_LOST', 'the idle connection was closed by the drain');
  t.false(server.logs.some((line) => line.event === 'worker-kill' || (line.event === 'drain' && line.left !== undefined)), 'nothing was left to the drain deadline');
  t.log(`FERRY_WORKERS=${workers}: exited ${Math.round(exitMs)} ms after the last transfer ended`);
}

test.serial('cluster mode: SIGTERM during an upload exits within 2 s of the last transfer ending, the file intact, idle connections closed', async (t) => {
  await drainsRightAfterTheLastTransfer(t, 2);
});

test.serial('single process: SIGTERM during an upload exits within 2 s of the last transfer ending, the file intact, idle connections closed', async (t) => {
  await drainsRightAfterTheLastTransfer(t, 0);
});

test('a connection the server ended is let go soon even when the client never closes its side', async (t) => {
  // Raw frames on the socket: a plain server.
  const server = await startServer(t, { tls: false });
  // allowHalfOpen: this client reads the server's end but never sends its own.
  const socket = connect({ host: '127.0.0.1', port: server.port, allowHalfOpen: true });
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');
  socket.resume();
  socket.write(
    Buffer.concat([
      encodeJsonFrame(FrameType.HELLO, 0, { protocol: PROTOCOL_NAME, version: PROTOCOL_VERSION, capabilities: [...CAPABILITIES], agent: 'half-open/1' }),
      encodeJsonFrame(FrameType.REQUEST, 1, { op: 'login', user: ADMIN.user, password: ADMIN.password }),
      encodeJsonFrame(FrameType.REQUEST, 2, { op: 'quit' }),
    ]),
  );
  await once(socket, 'end');
  const ended = performance.now();
  // A listener closes once its last socket has: far sooner than the idle timeout
  // (60 s here), which was all that closed a half-open one before.
  t.not(await withDeadline(server.stop(), 10_000), EXPIRED, 'the server closed');
  const waited = performance.now() - ended;
  t.true(waited < 5_000, `the server let go ${Math.round(waited)} ms after its end`);
});

for (const tls of [false, true]) {
  test(`a connection the gate admits only after close() began (${tls ? 'TLS' : 'plain TCP'}) is closed, not served, and the close does not wait for it`, async (t) => {
    let admitting: () => void = () => undefined;
    const asked = new Promise<void>((resolve) => (admitting = resolve));
    let admit: (refusal: string | undefined) => void = () => undefined;
    let released = 0;
    // As a cluster worker's gate: the primary's answer arrives later, here when the test says.
    const gate = {
      admit: (): Promise<string | undefined> => {
        admitting();
        return new Promise((resolve) => (admit = resolve));
      },
      release: () => void released++,
    };
    const server = await startServer(t, { gate, ...(tls ? {} : { tls: false as const }) });
    const socket = connect(server.port, '127.0.0.1');
    socket.on('error', () => undefined);
    const socketClosed = once(socket, 'close');
    await asked;
    const closed = server.server.close(60_000);
    admit(undefined);
    t.not(await withDeadline(socketClosed, 10_000), EXPIRED, 'the late-admitted connection was closed');
    t.not(await withDeadline(closed, 10_000), EXPIRED, 'close() did not wait for a session it never drained');
    t.is(released, 1, 'its admission was given back');
  });
}
