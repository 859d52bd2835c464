import test from 'ava';
import { FerryClient, type ConnectOptions } from '../../src/client/client.js';
import { FerryError } from '../../src/protocol/errors.js';
import { ferry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { scrape, sumSamples } from '../helpers/metrics.js';
import { ADMIN, spawnServer, startServer } from '../helpers/server.js';
import { eventually } from '../helpers/tools.js';

/** Logs in once on a fresh connection from `from`; returns the error code, or 'ok'. */
async function tryLogin(address: ConnectOptions, password: string, from = '127.0.0.1'): Promise<string> {
  const client = await FerryClient.connect({ ...address, localAddress: from });
  try {
    await client.login(ADMIN.user, password);
    return 'ok';
  } catch (error) {
    return error instanceof FerryError ? error.code : 'other';
  } finally {
    client.close();
  }
}

test('50 wrong passwords from one address get it banned; the right password is refused until the ban ends; other addresses are unaffected', async (t) => {
  const server = await startServer(t, { bans: { threshold: 10, windowMs: 60_000, durationMs: 3_000 } });
  const answers: string[] = [];
  let bannedAt = 0;
  for (let attempt = 0; attempt < 50; attempt++) {
    answers.push(await tryLogin(server.address, `guess-${attempt}`));
    // The ban starts at the tenth failure, however long the remaining guesses take.
    if (attempt === 9) bannedAt = Date.now();
  }
  t.deepEqual(answers.slice(0, 10), Array.from({ length: 10 }, () => 'AUTH_FAILED'), 'the first ten are plain failures');
  t.deepEqual(answers.slice(10), Array.from({ length: 40 }, () => 'BANNED'), 'then the address is banned');

  t.is(await tryLogin(server.address, ADMIN.password), 'BANNED', 'even the right password is refused while banned');
  t.is(await tryLogin(server.address, ADMIN.password, '127.0.0.2'), 'ok', 'another address logs in');
  await eventually(async () => ((await tryLogin(server.address, ADMIN.password)) === 'ok' ? true : undefined), 10_000, 250);
  t.true(Date.now() - bannedAt >= 2_000, 'the ban lasted its duration');
});

test('a banned address gets exit code 3 from the CLI with a message that says when to try again', async (t) => {
  const server = await startServer(t, { bans: { threshold: 3, windowMs: 60_000, durationMs: 60_000 } });
  for (let attempt = 0; attempt < 3; attempt++) t.is(await tryLogin(server.address, 'wrong'), 'AUTH_FAILED');
  const result = await ferry(['ls'], { env: server.env });
  t.is(result.code, 3);
  t.regex(result.stderr, /too many failed logins from 127\.0\.0\.1; try again after \d{4}-\d\d-\d\dT/);
});

test('bans hold across all workers of a cluster, are counted in ferry_auth_attempts_total and logged', async (t) => {
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
  // Parallel guesses land on both workers; the primary counts them all.
  const guesses = await Promise.all(Array.from({ length: 6 }, (_, n) => tryLogin(server.address, `guess-${n}`)));
  t.deepEqual(guesses, Array.from({ length: 6 }, () => 'AUTH_FAILED'));
  await server.waitForLog((line) => line.event === 'ban' && line.remote === '127.0.0.1');
  // Each worker hears of the ban; fresh connections spread over both workers are all refused.
  const refusals = await eventually(async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => tryLogin(server.address, ADMIN.password)));
    return answers.every((answer) => answer === 'BANNED') ? answers : undefined;
  }, 5_000);
  t.is(refusals.length, 8);
  t.is(await tryLogin(server.address, ADMIN.password, '127.0.0.2'), 'ok');
  const text = await scrape(server.opsPort);
  t.true(sumSamples(text, 'ferry_auth_attempts_total', { result: 'banned' }) >= 8);
  t.is(sumSamples(text, 'ferry_auth_attempts_total', { result: 'failure' }), 6);
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});
