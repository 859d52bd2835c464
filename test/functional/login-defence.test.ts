import test, { type ExecutionContext } from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { randomBytes, scryptSync } from 'node:crypto';
import { FerryClient, type ConnectOptions } from '../../src/client/client.js';
import { FerryError } from '../../src/protocol/errors.js';
import { tempDir } from '../helpers/files.js';
import { scrape, sumSamples } from '../helpers/metrics.js';
import { ADMIN, READER, spawnServer, startServer } from '../helpers/server.js';

/** Logs in once on a fresh connection from `from`; returns the error code, or 'ok'. */
async function tryLogin(address: ConnectOptions, credentials: { user: string; password: string }, from = '127.0.0.1'): Promise<string> {
  let client: FerryClient | undefined;
  try {
    client = await FerryClient.connect({ ...address, localAddress: from });
    await client.login(credentials.user, credentials.password);
    return 'ok';
  } catch (error) {
    return error instanceof FerryError ? error.code : 'other';
  } finally {
    client?.close();
  }
}

function tally(answers: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const answer of answers) counts[answer] = (counts[answer] ?? 0) + 1;
  return counts;
}

const wrong = (n: number): { user: string; password: string } => ({ user: ADMIN.user, password: `guess-${n}` });

test('a burst of 40 parallel guesses is counted as it arrives: only the first 10 reach a password check, the rest are refused as banned', async (t) => {
  const server = await startServer(t, { bans: { threshold: 10, windowMs: 60_000, durationMs: 60_000 } });
  const answers = await Promise.all(Array.from({ length: 40 }, (_, n) => tryLogin(server.address, wrong(n))));
  t.deepEqual(tally(answers), { AUTH_FAILED: 10, BANNED: 30 });
  t.is(await tryLogin(server.address, ADMIN), 'BANNED', 'the address stays banned');
});

test('twelve clients of one user logging in at once from one address all get in, though the limit is three', async (t) => {
  const server = await startServer(t, { bans: { threshold: 3, windowMs: 60_000, durationMs: 60_000 } });
  const answers = await Promise.all(Array.from({ length: 12 }, () => tryLogin(server.address, ADMIN)));
  t.deepEqual(tally(answers), { ok: 12 });
});

test('successful logins to another account do not clear the failures counted against the address', async (t) => {
  const server = await startServer(t, { bans: { threshold: 5, accountThreshold: 100, windowMs: 60_000, durationMs: 60_000 } });
  const answers: string[] = [];
  // An attacker with a low-privilege account of their own interleaves good logins with guesses.
  for (let n = 0; n < 8; n++) {
    answers.push(await tryLogin(server.address, READER));
    answers.push(await tryLogin(server.address, wrong(n)));
  }
  const guesses = answers.filter((_, index) => index % 2 === 1);
  t.deepEqual(guesses.slice(0, 5), Array.from({ length: 5 }, () => 'AUTH_FAILED'));
  t.deepEqual(guesses.slice(5), Array.from({ length: 3 }, () => 'BANNED'));
});

test('failures against one account from one address refuse that account to that address only: its owner elsewhere, and other accounts from there, still log in', async (t) => {
  const server = await startServer(t, { bans: { threshold: 100, accountThreshold: 3, windowMs: 60_000, durationMs: 60_000 } });
  const answers = await Promise.all(Array.from({ length: 6 }, (_, n) => tryLogin(server.address, wrong(n), '127.0.0.3')));
  t.deepEqual(tally(answers), { AUTH_FAILED: 3, BANNED: 3 });
  t.is(await tryLogin(server.address, ADMIN, '127.0.0.3'), 'BANNED', 'the right password from the guessing address is refused too');
  t.is(await tryLogin(server.address, ADMIN, '127.0.0.4'), 'ok', 'the owner, from their own address, is not locked out');
  t.is(await tryLogin(server.address, READER, '127.0.0.3'), 'ok', 'other accounts still log in from the guessing address');
  const client = await FerryClient.connect({ ...server.address, localAddress: '127.0.0.3' });
  t.teardown(() => client.close());
  const error = await t.throwsAsync(client.login(ADMIN.user, ADMIN.password));
  t.regex(error?.message ?? '', /too many failed logins to this account from 127\.0\.0\.3; try again after .*, or from another address/);
});

test('in a cluster, a burst of parallel guesses spread over both workers is counted by the one book in the primary', async (t) => {
  const server = await spawnServer(t, {
    FERRY_DATA_DIR: await tempDir(t),
    FERRY_ADMIN_PASSWORD: ADMIN.password,
    FERRY_WORKERS: '2',
    FERRY_BAN_THRESHOLD: '6',
    FERRY_ACCOUNT_BAN_THRESHOLD: '100',
    FERRY_BAN_DURATION: '60s',
    FERRY_AUTH_FAILURE_DELAY: '0',
  });
  await server.waitForLog((line) => line.event === 'workers-ready');
  const answers = await Promise.all(Array.from({ length: 30 }, (_, n) => tryLogin(server.address, wrong(n))));
  t.deepEqual(tally(answers), { AUTH_FAILED: 6, BANNED: 24 });
  const text = await scrape(server.opsPort);
  t.is(sumSamples(text, 'ferry_auth_attempts_total', { result: 'failure' }), 6, 'six password checks in all, across both workers');
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});

test('an old scrypt hash is replaced by argon2id at the next successful login, and the user\'s live session goes on', async (t) => {
  const server = await startServer(t);
  const salt = randomBytes(16);
  const legacy = ['scrypt', 16384, 8, 1, salt.toString('base64'), scryptSync('legacy-password', salt, 32, { N: 16384, r: 8, p: 1 }).toString('base64')].join('$');
  const file = JSON.parse(await readFile(server.users.path, 'utf8')) as { users: Record<string, unknown> };
  file.users.old = { password: legacy, home: '/', permissions: ['list', 'read'] };
  await writeFile(server.users.path, JSON.stringify(file));

  const first = await server.connect({ user: 'old', password: 'legacy-password' });
  const stored = (JSON.parse(await readFile(server.users.path, 'utf8')) as { users: Record<string, { password: string }> }).users.old?.password ?? '';
  t.regex(stored, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, 'the file now holds an argon2id hash');
  t.deepEqual(await first.list('/'), [], 'the session that upgraded the hash goes on');
  const second = await server.connect({ user: 'old', password: 'legacy-password' });
  t.deepEqual(await second.list('/'), []);
  t.is(await tryLogin(server.address, { user: 'old', password: 'legacy-passwore' }), 'AUTH_FAILED');
  t.deepEqual(await first.list('/'), [], 'still going after another session logged in');
});

/** Nearest-rank percentile of `samples` (ms). */
function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** A logged-in user's `stat` latencies (ms) while 250 wrong logins arrive at once. */
async function statDuringStorm(t: ExecutionContext, address: ConnectOptions, admin: FerryClient): Promise<number> {
  await admin.mkdir('/work');
  const storm = Promise.all(Array.from({ length: 250 }, (_, n) => tryLogin(address, wrong(n))));
  let stormOver = false;
  void storm.finally(() => (stormOver = true));
  const latencies: number[] = [];
  const started = performance.now();
  while (!stormOver && performance.now() - started < 90_000) {
    const before = performance.now();
    await admin.stat('/work');
    latencies.push(performance.now() - before);
  }
  const answers = await storm;
  // A guess is refused, times out, or (on a loaded machine) is dropped before its
  // handshake ends; none gets in.
  const refused = ['AUTH_FAILED', 'TIMEOUT', 'CONNECT_FAILED', 'CONNECTION_LOST'];
  t.true(answers.every((answer) => refused.includes(answer)), JSON.stringify(tally(answers)));
  const p99 = percentile(latencies, 99);
  t.log(`stat during the storm: ${latencies.length} calls, p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms; storm took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  t.true(latencies.length >= 20, 'the user kept working through the storm');
  return p99;
}

// No bans in these two: the worst case, a storm from many addresses, every guess reaching a password check.

test('250 wrong logins arriving at once do not stall a logged-in user: stat p99 stays under 250 ms while they are checked', async (t) => {
  const server = await startServer(t, { bans: { threshold: 0, windowMs: 0, durationMs: 0 } });
  const p99 = await statDuringStorm(t, server.address, await server.connect());
  t.true(p99 < 250, `stat p99 ${p99.toFixed(1)} ms`);
});

test('the same storm against a 2-worker ferry-server leaves a logged-in user\'s stat p99 under 500 ms', async (t) => {
  const server = await spawnServer(t, {
    FERRY_DATA_DIR: await tempDir(t),
    FERRY_ADMIN_PASSWORD: ADMIN.password,
    FERRY_WORKERS: '2',
    FERRY_BAN_THRESHOLD: '0',
    FERRY_AUTH_FAILURE_DELAY: '0',
    FERRY_AUTH_TIMEOUT: '60s',
  });
  await server.waitForLog((line) => line.event === 'workers-ready');
  const admin = await FerryClient.connect(server.address);
  t.teardown(() => admin.close());
  await admin.login(ADMIN.user, ADMIN.password);
  const p99 = await statDuringStorm(t, server.address, admin);
  t.true(p99 < 500, `stat p99 ${p99.toFixed(1)} ms`);
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});
