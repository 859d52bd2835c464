/**
 * Slow and idle clients (slowloris): connections that never speak, trickle a HELLO
 * one byte at a time, stop after the handshake, or go silent after logging in.
 * The auth and idle timeouts must close every one of them (with ERROR id 0 TIMEOUT
 * first), the connection limits must turn away the surplus with BUSY, and a real
 * client must keep moving files intact all the while.
 */

import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryClient } from '../../src/client/client.js';
import { FrameType, encodeJsonFrame } from '../../src/protocol/frames.js';
import { CAPABILITIES, PROTOCOL_NAME, PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { sha256, tempDir } from '../helpers/files.js';
import { RawConnection, describeFrame } from '../helpers/raw-connection.js';
import { ADMIN, spawnServer, startServer } from '../helpers/server.js';
import { eventually } from '../helpers/tools.js';

const AUTH_TIMEOUT_MS = 1_500;
const IDLE_TIMEOUT_MS = 3_000;
/** Timers may fire a little before a client-side clock says they should (accept and connect are not the same instant). */
const EARLY_MS = 100;
/** How late past its timeout a connection may still be closed on a loaded machine. */
const LATE_MS = 6_000;
/** Connections per kind before login (silent, trickling, HELLO only), and after. */
const BEFORE_LOGIN_PER_KIND = 90;
const SILENT_AFTER_LOGIN = 30;
const ACTIVE_CONNECTIONS = 10;
const ACTIVE_PINGS = 5;
const PING_EVERY_MS = 1_000;
const TRICKLE_EVERY_MS = 40;
/** Logins hash with argon2id on libuv's small thread pool: more at once would queue towards the auth timeout. */
const LOGINS_AT_ONCE = 2;
const MIN_ROUND_TRIPS = 3;
const ROUND_TRIP_SIZES = [3 * 1024 * 1024, 1024 * 1024 + 7, 4 * 1024 * 1024 - 1];

const HELLO = encodeJsonFrame(FrameType.HELLO, 0, {
  protocol: PROTOCOL_NAME,
  version: PROTOCOL_VERSION,
  capabilities: [...CAPABILITIES],
  agent: 'slowloris-test/1',
});

function loginFrame(id: number, password = ADMIN.password): Buffer {
  return encodeJsonFrame(FrameType.REQUEST, id, { op: 'login', user: ADMIN.user, password });
}

/** A raw connection past HELLO and login (request id 1); returns when the login is answered. */
async function loggedIn(t: ExecutionContext, port: number, localAddress?: string): Promise<RawConnection> {
  const connection = await RawConnection.open(t, port, { localAddress: localAddress, connectMs: 10_000 });
  connection.send(Buffer.concat([HELLO, loginFrame(1)]));
  const answer = await connection.frameCount(2, 'the answer to login');
  if (answer.type !== FrameType.OK || answer.id !== 1) throw new Error(`login failed: ${connection.summary()}`);
  return connection;
}

/** Runs `work` over `items`, `limit` at a time. */
async function inBatches<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

interface Verdict {
  group: string;
  problem: string;
}

/** Upload and download round trips until `running()` turns false; every file must come back intact. */
async function keepTransferring(client: FerryClient, running: () => boolean): Promise<{ trips: number; failures: string[] }> {
  let trips = 0;
  const failures: string[] = [];
  for (let n = 0; running() || trips === 0; n++) {
    const size = ROUND_TRIP_SIZES[n % ROUND_TRIP_SIZES.length] as number;
    const data = randomBytes(size);
    const path = `/steady/file-${n}.bin`;
    try {
      await client.upload(path, { size, open: () => Readable.from([data]) });
      const chunks: Buffer[] = [];
      const got = await client.download(path, {
        write: async (chunk) => {
          chunks.push(Buffer.from(chunk));
        },
      });
      const back = Buffer.concat(chunks);
      if (!back.equals(data) || got.sha256 !== sha256(data)) failures.push(`${path} came back different`);
      else trips++;
    } catch (error) {
      failures.push(`${path}: ${(error as Error).message}`);
      if (failures.length > 3) break;
    }
  }
  return { trips, failures };
}

test('hundreds of silent, trickling and idle connections are each closed by the auth or idle timeout while a real client moves files intact', async (t) => {
  const server = await startServer(t, { tls: false, limits: { authTimeoutMs: AUTH_TIMEOUT_MS, idleTimeoutMs: IDLE_TIMEOUT_MS }, maxConnections: 1000 });
  let slowOpen = true;
  const verdicts: Verdict[] = [];
  const fail = (group: string, problem: string): void => void verdicts.push({ group, problem });

  /** Before login: closed by the auth timeout, with `before` and then ERROR id 0 TIMEOUT. */
  const closedByAuthTimeout = async (group: string, connection: RawConnection, before: string[]): Promise<void> => {
    if (!(await connection.closeWithin(AUTH_TIMEOUT_MS + LATE_MS))) return fail(group, `still open ${AUTH_TIMEOUT_MS + LATE_MS} ms after connecting; got ${connection.summary()}`);
    const lived = (connection.closedAt as number) - connection.openedAt;
    if (lived < AUTH_TIMEOUT_MS - EARLY_MS) fail(group, `closed after ${Math.round(lived)} ms, before the ${AUTH_TIMEOUT_MS} ms auth timeout`);
    const got = connection.frames.map(describeFrame);
    const want = [...before, 'ERROR id 0 TIMEOUT'];
    if (JSON.stringify(got) !== JSON.stringify(want)) fail(group, `answered ${JSON.stringify(got)}, not ${JSON.stringify(want)}`);
  };

  const silent = async (): Promise<void> => {
    const connection = await RawConnection.open(t, server.port, { connectMs: 10_000 });
    await closedByAuthTimeout('never sends a byte', connection, []);
  };

  const trickler = async (): Promise<void> => {
    const connection = await RawConnection.open(t, server.port, { connectMs: 10_000 });
    // One byte of HELLO every TRICKLE_EVERY_MS: never idle, never finished before the auth timeout.
    for (let offset = 0; offset < HELLO.length && !connection.isClosed; offset++) {
      connection.send(HELLO.subarray(offset, offset + 1));
      await sleep(TRICKLE_EVERY_MS);
    }
    if (connection.bytesSent >= HELLO.length) fail('trickles a HELLO', `the whole ${HELLO.length}-byte HELLO went through before the auth timeout closed the connection`);
    await closedByAuthTimeout('trickles a HELLO', connection, []);
  };

  const helloOnly = async (): Promise<void> => {
    const connection = await RawConnection.open(t, server.port, { connectMs: 10_000 });
    connection.send(HELLO);
    await closedByAuthTimeout('says HELLO and never logs in', connection, ['WELCOME id 0']);
  };

  /**
   * After login the auth timeout no longer applies; the idle timeout closes the
   * connection `IDLE_TIMEOUT_MS` after the server last heard from it (no sooner than
   * after the client's last write; the server's own answer may come a little later).
   */
  const closedByIdleTimeout = async (group: string, connection: RawConnection, answers: number): Promise<void> => {
    if (!(await connection.closeWithin(IDLE_TIMEOUT_MS + LATE_MS + ACTIVE_PINGS * PING_EVERY_MS))) {
      return fail(group, `still open long after going silent; got ${connection.summary()}`);
    }
    const silentFor = (connection.closedAt as number) - connection.lastSentAt;
    if (silentFor < IDLE_TIMEOUT_MS - EARLY_MS) fail(group, `closed ${Math.round(silentFor)} ms after its last request, before the ${IDLE_TIMEOUT_MS} ms idle timeout`);
    if (silentFor > IDLE_TIMEOUT_MS + LATE_MS) fail(group, `closed only ${Math.round(silentFor)} ms after its last request`);
    const got = connection.frames.map(describeFrame);
    if (got.length !== answers + 1 || got[answers] !== 'ERROR id 0 TIMEOUT') fail(group, `answered ${JSON.stringify(got)}: the last frame is not ERROR id 0 TIMEOUT`);
  };

  // Each resolves once logged in, with the check that then runs on its own (wrapped so it is not awaited yet).
  const loggedInSilent = async (): Promise<{ done: Promise<void> }> => {
    const connection = await loggedIn(t, server.port);
    return { done: closedByIdleTimeout('logs in and goes silent', connection, 2) };
  };

  const active = async (): Promise<{ done: Promise<void> }> => {
    const connection = await loggedIn(t, server.port);
    const pingThenGoSilent = async (): Promise<void> => {
      for (let ping = 0; ping < ACTIVE_PINGS; ping++) {
        await sleep(PING_EVERY_MS);
        connection.send(encodeJsonFrame(FrameType.REQUEST, ping + 2, { op: 'stat', path: '/' }));
        const answer = await connection.frameCount(ping + 3, `the answer to ping ${ping + 1}`).catch((error: Error) => error);
        if (answer instanceof Error) return fail('stays active past the idle timeout', answer.message);
      }
      const lived = connection.lastSentAt - connection.openedAt;
      if (lived < IDLE_TIMEOUT_MS) fail('stays active past the idle timeout', `only lived ${Math.round(lived)} ms, not past the idle timeout`);
      await closedByIdleTimeout('stays active past the idle timeout, then goes silent', connection, 2 + ACTIVE_PINGS);
    };
    return { done: pingThenGoSilent() };
  };

  // Logins first, a few at a time: argon2id shares libuv's thread pool with the real
  // client's file I/O, and a login queued behind it could miss the auth timeout.
  const afterLogin = await inBatches(
    [...Array.from({ length: ACTIVE_CONNECTIONS }, () => active), ...Array.from({ length: SILENT_AFTER_LOGIN }, () => loggedInSilent)],
    LOGINS_AT_ONCE,
    (start) => start(),
  );
  const steady = await server.connect();
  const transfers = keepTransferring(steady, () => slowOpen);
  const slow = [
    ...Array.from({ length: BEFORE_LOGIN_PER_KIND }, silent),
    ...Array.from({ length: BEFORE_LOGIN_PER_KIND }, trickler),
    ...Array.from({ length: BEFORE_LOGIN_PER_KIND }, helloOnly),
  ];
  await Promise.all([...slow, ...afterLogin.map((started) => started.done)]).finally(() => {
    slowOpen = false;
  });
  const { trips, failures } = await transfers;

  t.log(`${slow.length + afterLogin.length} slow connections; the real client made ${trips} round trips of 1 to 4 MiB meanwhile`);
  t.deepEqual(
    verdicts.slice(0, 10).map((v) => `${v.group}: ${v.problem}`),
    [],
    `${verdicts.length} slow connections were not closed as the timeouts say`,
  );
  t.deepEqual(failures, [], 'every transfer of the real client succeeded');
  t.true(trips >= MIN_ROUND_TRIPS, `the real client completed at least ${MIN_ROUND_TRIPS} round trips (${trips})`);
  await eventually(async () => (server.server.connections === 1 ? true : undefined), 5_000);
  t.is(server.server.connections, 1, 'only the real client is left connected');
});

test('connections over the per-IP or the total limit get BUSY on id 0 and a close, while the connections already in keep working', async (t) => {
  const dataDir = await tempDir(t, 'ferry-limits-');
  const password = 'limits-admin-password';
  const server = await spawnServer(t, {
    FERRY_DATA_DIR: dataDir,
    FERRY_ADMIN_PASSWORD: password,
    FERRY_WORKERS: '0',
    FERRY_MAX_CONNECTIONS: '6',
    FERRY_MAX_CONNECTIONS_PER_IP: '3',
    // Raw frames on the socket: plain TCP.
    FERRY_TLS: 'false',
  });
  const steady = await FerryClient.connect(server.address);
  t.teardown(() => steady.close());
  await steady.login(ADMIN.user, password);

  /** A connection the server took: it answers HELLO with WELCOME. */
  const admitted = async (from: string): Promise<RawConnection> => {
    const connection = await RawConnection.open(t, server.port, { localAddress: from, connectMs: 10_000 });
    connection.send(HELLO);
    const welcome = await connection.frameCount(1, `WELCOME for a connection from ${from}`);
    t.is(describeFrame(welcome), 'WELCOME id 0', `a connection from ${from} within the limits is welcomed`);
    return connection;
  };
  /** A connection over a limit: ERROR id 0 BUSY straight away, then the close, without a HELLO. */
  const turnedAway = async (from: string, why: string): Promise<void> => {
    const connection = await RawConnection.open(t, server.port, { localAddress: from, connectMs: 10_000 });
    t.true(await connection.closeWithin(10_000), `a connection from ${from} over ${why} is closed`);
    t.deepEqual(connection.frames.map(describeFrame), ['ERROR id 0 BUSY'], `a connection from ${from} over ${why} gets only ERROR id 0 BUSY`);
  };

  const fromFirst = [await admitted('127.0.0.1'), await admitted('127.0.0.1')];
  await turnedAway('127.0.0.1', 'the per-IP limit of 3');
  const fromSecond = [await admitted('127.0.0.2'), await admitted('127.0.0.2'), await admitted('127.0.0.2')];
  await turnedAway('127.0.0.3', 'the total limit of 6');
  await turnedAway('127.0.0.1', 'the per-IP limit of 3, again');

  // Everyone already in is still served: the real client moves a file, the raw ones log in.
  const data = randomBytes(2 * 1024 * 1024 + 3);
  await steady.upload('/limits.bin', { size: data.length, open: () => Readable.from([data]) });
  const chunks: Buffer[] = [];
  await steady.download('/limits.bin', {
    write: async (chunk) => {
      chunks.push(Buffer.from(chunk));
    },
  });
  t.true(Buffer.concat(chunks).equals(data), 'the real client round-trips a file intact at the limit');
  for (const [index, connection] of [...fromFirst, ...fromSecond].entries()) {
    connection.send(loginFrame(1, password));
    t.is(describeFrame(await connection.frameCount(2, 'the answer to login')), 'OK id 1', `admitted connection ${index + 1} logs in`);
  }
  t.true([...fromFirst, ...fromSecond].every((connection) => !connection.isClosed), 'no admitted connection was closed');

  // A freed slot is taken again: close one from 127.0.0.1, wait for the server to log its end.
  const leaving = fromFirst[0] as RawConnection;
  const port = leaving.socket.localPort;
  leaving.socket.end();
  await server.waitForLog((line) => line.event === 'connection' && line.remote === `127.0.0.1:${port}`);
  await admitted('127.0.0.1');
  // The first refusal of each source is logged at once; repeats are summed up per interval.
  const busyLines = await eventually(async () => {
    const lines = server.logs.filter((line) => line.event === 'busy');
    return lines.length >= 2 ? lines : undefined;
  }, 5_000);
  t.deepEqual(busyLines.map((line) => line.remote).sort(), ['127.0.0.1', '127.0.0.3'], 'the server logged the refusals, one line per source');
});
