import test from 'ava';
import { BanBook, LoginQueue, type Ban, type LoginVerdict } from '../../src/auth/bans.js';
import { ConnectionBook } from '../../src/server/connection-book.js';

const POLICY = { threshold: 4, accountThreshold: 2, windowMs: 60_000, durationMs: 1_000 };

function allowed(verdict: LoginVerdict | undefined): Extract<LoginVerdict, { allowed: true }> {
  if (!verdict?.allowed) throw new Error(`expected an allowed attempt, got ${JSON.stringify(verdict)}`);
  return verdict;
}

test('failures against one account from one address refuse that pair only, and the ban ends after its duration', (t) => {
  const book = new BanBook(POLICY);
  t.is(book.failed(allowed(book.attempt('10.0.0.1', 'alice', 0)).ticket, 0), undefined);
  t.like(book.failed(allowed(book.attempt('10.0.0.1', 'alice', 0)).ticket, 0), { scope: 'account', account: 'alice', until: 1_000 }, 'the second failure bans');
  t.like(book.attempt('10.0.0.1', 'alice', 1), { allowed: false, started: false, ban: { scope: 'account', until: 1_000 } });
  t.true(allowed(book.attempt('10.0.0.2', 'alice', 2)).allowed, 'alice from elsewhere');
  t.true(allowed(book.attempt('10.0.0.1', 'bob', 2)).allowed, 'bob from the same address');
  t.true(allowed(book.attempt('10.0.0.1', 'alice', 1_000)).allowed, 'after the ban');
});

test('a success clears its own account\'s failures from its address and nothing else', (t) => {
  const book = new BanBook({ ...POLICY, accountThreshold: 10 });
  for (let n = 0; n < 3; n++) book.failed(allowed(book.attempt('10.0.0.1', 'alice', 0)).ticket, 0);
  book.succeeded(allowed(book.attempt('10.0.0.1', 'mallory', 0)).ticket, 0);
  const last = allowed(book.attempt('10.0.0.1', 'alice', 0));
  t.like(book.failed(last.ticket, 0), { scope: 'source', source: '10.0.0.1' }, 'the fourth failure bans the address');
});

test('an attempt that only pending checks could push over the limit waits, then goes on if they succeed or is refused if they fail', async (t) => {
  const bans: Ban[] = [];
  const queue = new LoginQueue(new BanBook({ threshold: 2, windowMs: 60_000, durationMs: 60_000 }), (ban) => bans.push(ban));
  const first = allowed(await queue.attempt('10.0.0.1', 'alice'));
  const second = allowed(await queue.attempt('10.0.0.1', 'alice'));
  let third: LoginVerdict | undefined;
  void queue.attempt('10.0.0.1', 'alice').then((verdict) => (third = verdict));
  await Promise.resolve();
  t.is(third, undefined, 'the third waits while two are being checked');
  queue.succeeded(first.ticket);
  await Promise.resolve();
  const goesOn = allowed(third);
  let fourth: LoginVerdict | undefined;
  const waiting = queue.attempt('10.0.0.1', 'alice').then((verdict) => (fourth = verdict));
  queue.failed(second.ticket);
  queue.failed(goesOn.ticket);
  await waiting;
  t.like(fourth, { allowed: false, ban: { scope: 'source' } });
  t.is(bans.length, 1, 'the ban is announced once');
});

test('with a threshold of 0 nothing is counted or refused', (t) => {
  const book = new BanBook({ threshold: 0, windowMs: 0, durationMs: 0 });
  for (let n = 0; n < 100; n++) book.failed(allowed(book.attempt('10.0.0.1', 'alice')).ticket);
  t.true(allowed(book.attempt('10.0.0.1', 'alice')).allowed);
});

test('the connection book holds a total and a per-source limit, and frees what is released', (t) => {
  const book = new ConnectionBook({ maxConnections: 3, maxConnectionsPerIp: 2 });
  t.is(book.admit('a'), undefined);
  t.is(book.admit('a'), undefined);
  t.is(book.admit('a'), '2 connections from a');
  t.is(book.admit('b'), undefined);
  t.is(book.admit('c'), '3 connections');
  book.release('a');
  t.is(book.admit('c'), undefined);
  book.release('b');
  book.release('c');
  book.release('a');
  t.is(book.admit('a'), undefined);
  t.is(book.admit('a'), undefined);
});
