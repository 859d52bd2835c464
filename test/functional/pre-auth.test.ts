/**
 * What a stranger can make the server spend before logging in: memory per
 * connection, log bytes, connections and TLS handshakes.
 */

import test from 'ava';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { FerryClient } from '../../src/client/client.js';
import { createSelfSignedCertificate } from '../../src/ops/certificate.js';
import { FrameType, encodeHeader, encodeJsonFrame } from '../../src/protocol/frames.js';
import { CAPABILITIES, PROTOCOL_NAME, PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { FrameChannel } from '../../src/transport/channel.js';
import { tempDir } from '../helpers/files.js';
import { residentMemory } from '../helpers/memory.js';
import { ADMIN, spawnServer } from '../helpers/server.js';
import { eventually } from '../helpers/tools.js';

const HELLO = encodeJsonFrame(FrameType.HELLO, 0, { protocol: PROTOCOL_NAME, version: PROTOCOL_VERSION, capabilities: [...CAPABILITIES], agent: 'pre-auth-test' });
const MiB = 1024 * 1024;

function openSocket(port: number, from = '127.0.0.1'): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, localAddress: from });
  socket.on('error', () => undefined);
  return once(socket, 'connect').then(() => socket);
}

/** Reads and drops whatever the server says, and notes when it closes. */
function discardReplies(socket: Socket): void {
  socket.resume();
  socket.once('end', () => socket.destroy());
}

/** Resolves once `socket` has taken all it was given, or closed. */
function settled(socket: Socket): Promise<void> {
  if (socket.destroyed || socket.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once('drain', resolve);
    socket.once('close', resolve);
  });
}

test('200 connections announcing 4 MiB frames before login are refused at the header, and the server RSS stays bounded', async (t) => {
  const server = await spawnServer(t, { FERRY_DATA_DIR: await tempDir(t), FERRY_ADMIN_PASSWORD: ADMIN.password, FERRY_AUTH_TIMEOUT: '60s', FERRY_TLS: 'false' });
  const pid = server.child.pid as number;
  const before = (await residentMemory(pid)).rss;
  const sockets = await Promise.all(Array.from({ length: 200 }, () => openSocket(server.port)));
  t.teardown(() => sockets.forEach((socket) => socket.destroy()));
  sockets.forEach(discardReplies);
  // Each announces a 4 MiB login request and sends its first MiB, which an eager server would hold.
  const payload = Buffer.alloc(MiB, 0x41);
  for (const socket of sockets) socket.write(Buffer.concat([HELLO, encodeHeader(FrameType.REQUEST, 1, 4 * MiB), payload]));
  await Promise.all(sockets.map(settled));
  const during = (await residentMemory(pid)).rss;
  const growth = during - before;
  t.log(`server RSS ${(before / MiB).toFixed(0)} MiB before, ${(during / MiB).toFixed(0)} MiB with 200 connections announcing 4 MiB frames (+${(growth / MiB).toFixed(1)} MiB)`);
  t.true(growth < 48 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
  const closed = await eventually(async () => (sockets.every((socket) => socket.destroyed || socket.readableEnded) ? true : undefined), 20_000);
  t.true(closed, 'every such connection is closed long before the auth timeout');
  const client = await FerryClient.connect(server.address);
  t.teardown(() => client.close());
  t.is((await client.login(ADMIN.user, ADMIN.password)).user, 'admin', 'the server still serves');
});

test('80 logins with 1 MiB user names, then 80 with 3,000-character names, write a few KiB of log, not megabytes', async (t) => {
  const server = await spawnServer(t, { FERRY_DATA_DIR: await tempDir(t), FERRY_ADMIN_PASSWORD: ADMIN.password, FERRY_BAN_THRESHOLD: '0' });
  let logBytes = 0;
  server.child.stdout?.on('data', (chunk: Buffer) => (logBytes += chunk.length));
  const attempt = async (user: string): Promise<void> => {
    const client = await FerryClient.connect(server.address).catch(() => undefined);
    if (!client) return;
    await client.login(user, 'wrong').catch(() => undefined);
    client.close();
  };
  const run = async (nameLength: number): Promise<number> => {
    const start = logBytes;
    for (let batch = 0; batch < 8; batch++) {
      await Promise.all(Array.from({ length: 10 }, (_, n) => attempt(`${batch}-${n}-`.padEnd(nameLength, 'u'))));
    }
    await server.waitForLog((line) => line.event === 'connection' && server.logs.filter((l) => l.event === 'connection').length >= (nameLength > 4096 ? 80 : 160));
    return logBytes - start;
  };
  const huge = await run(MiB);
  const long = await run(3_000);
  t.log(`log bytes written: ${huge} for 80 logins with 1 MiB user names, ${long} for 80 with 3,000-character names`);
  t.true(huge < 64 * 1024, `${huge} bytes`);
  t.true(long < 64 * 1024, `${long} bytes`);
  const named = server.logs.filter((line) => typeof line.user === 'string');
  t.true(named.length > 0 && named.every((line) => (line.user as string).length < 200), 'user names in the log are cut short');
});

test('repeated refused logins from one address are logged as one line at once, then one line per interval with the counts', async (t) => {
  const server = await spawnServer(t, {
    FERRY_DATA_DIR: await tempDir(t),
    FERRY_ADMIN_PASSWORD: ADMIN.password,
    FERRY_AUTH_LOG_INTERVAL: '2s',
    FERRY_BAN_THRESHOLD: '10',
    FERRY_AUTH_FAILURE_DELAY: '0',
  });
  const attempt = async (n: number): Promise<void> => {
    const client = await FerryClient.connect(server.address);
    await client.login(`guess-${n}`, 'wrong').catch(() => undefined);
    client.close();
  };
  for (let n = 0; n < 30; n++) await attempt(n);
  // On a slow machine the attempts may span more than one interval: add the lines up.
  const count = (key: 'failure' | 'banned'): number =>
    server.logs.filter((line) => line.event === 'refused').reduce((sum, line) => sum + (line[key] as number), 0) +
    server.logs.filter((line) => line.event === 'auth' && line.result === key).length;
  await eventually(async () => (count('failure') + count('banned') === 30 ? true : undefined), 15_000, 200);
  const summaries = server.logs.filter((line) => line.event === 'refused');
  t.true(summaries.length <= 10, `${summaries.length} summary lines for 29 refusals`);
  t.like(summaries[0], { remote: '127.0.0.1', intervalMs: 2_000 });
  t.regex(String(summaries[0]?.msg), /^refused 127\.0\.0\.1 \d+ more times in the last 2 s \(failed logins \d+, banned \d+/);
  // The first refusal is logged on its own; so is one after an interval that saw only that one.
  t.true(server.logs.filter((line) => line.event === 'auth').length <= 2, 'the others are only counted');
  t.is(count('failure'), 10);
  t.is(count('banned'), 20);
  t.is(server.logs.filter((line) => line.event === 'ban').length, 1, 'the ban is logged once');
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});

test('a TLS handshake flood beyond the per-address limit is cut at accept, for the whole cluster, and handshakes time out', async (t) => {
  const dataDir = await tempDir(t);
  const { cert, key } = await createSelfSignedCertificate(30);
  await writeFile(join(dataDir, 'cert.pem'), cert);
  await writeFile(join(dataDir, 'key.pem'), key);
  const HANDSHAKE_TIMEOUT_MS = 10_000;
  const server = await spawnServer(t, {
    FERRY_DATA_DIR: dataDir,
    FERRY_ADMIN_PASSWORD: ADMIN.password,
    FERRY_WORKERS: '2',
    FERRY_TLS_CERT: join(dataDir, 'cert.pem'),
    FERRY_TLS_KEY: join(dataDir, 'key.pem'),
    FERRY_MAX_CONNECTIONS_PER_IP: '20',
    FERRY_HANDSHAKE_TIMEOUT: String(HANDSHAKE_TIMEOUT_MS),
  });
  await server.waitForLog((line) => line.event === 'workers-ready');
  // 60 raw connections that never start their handshake, spread over both workers.
  const flood = await Promise.all(Array.from({ length: 60 }, () => openSocket(server.port)));
  const floodStarted = Date.now();
  t.teardown(() => flood.forEach((socket) => socket.destroy()));
  const isClosed = (socket: Socket): boolean => socket.destroyed || socket.readableEnded;
  flood.forEach(discardReplies);
  await eventually(async () => (flood.filter(isClosed).length >= 40 ? true : undefined), 5_000, 50);
  t.is(flood.filter((socket) => !isClosed(socket)).length, 20, 'exactly 20 held open: the per-address limit of the whole server, not per worker');

  // Another address completes its handshake and is welcomed meanwhile.
  const secure = tlsConnect({ socket: await openSocket(server.port, '127.0.0.2'), rejectUnauthorized: false });
  secure.on('error', () => undefined);
  await once(secure, 'secureConnect');
  const channel = new FrameChannel(secure, { maxFrameBytes: 4 * MiB });
  secure.write(HELLO);
  t.is((await channel.next())?.type, FrameType.WELCOME, 'a client from another address is served during the flood');
  channel.destroy();

  await eventually(async () => (flood.every(isClosed) ? true : undefined), HANDSHAKE_TIMEOUT_MS + 10_000, 100);
  t.true(Date.now() - floodStarted >= HANDSHAKE_TIMEOUT_MS - 1_000, 'the held connections were closed by the handshake timeout');
  const again = tlsConnect({ socket: await openSocket(server.port), rejectUnauthorized: false });
  again.on('error', () => undefined);
  await once(again, 'secureConnect');
  t.true(again.encrypted, 'the flooding address is served again once its connections are gone');
  again.destroy();
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});
