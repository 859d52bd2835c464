import test from 'ava';
import { BanBook, LoginQueue, describeBan, type Ban, type LoginVerdict } from '../../src/auth/bans.js';

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

test('failures from one address against many accounts ban the address for every account, announced once, until the ban ends', (t) => {
  const book = new BanBook({ threshold: 3, accountThreshold: 10, windowMs: 60_000, durationMs: 5_000 });
  t.is(book.failed(allowed(book.attempt('10.0.0.9', 'alice', 100)).ticket, 100), undefined);
  t.is(book.failed(allowed(book.attempt('10.0.0.9', 'bob', 100)).ticket, 100), undefined);
  t.like(book.failed(allowed(book.attempt('10.0.0.9', 'carol', 100)).ticket, 100), { scope: 'source', source: '10.0.0.9', until: 5_100 }, 'the third failure starts the ban');
  t.like(book.attempt('10.0.0.9', 'dave', 200), { allowed: false, started: false, ban: { scope: 'source', until: 5_100 } }, 'an account never tried is refused too, without announcing the ban again');
  t.true(allowed(book.attempt('10.0.0.10', 'alice', 300)).allowed, 'another address is not touched');
  t.like(book.attempt('10.0.0.9', 'erin', 5_099), { allowed: false });
  t.true(allowed(book.attempt('10.0.0.9', 'erin', 5_100)).allowed, 'the ban ends on time');
});

test('failures older than the window no longer count', (t) => {
  const book = new BanBook({ threshold: 2, windowMs: 1_000, durationMs: 60_000 });
  t.is(book.failed(allowed(book.attempt('10.0.0.1', 'alice', 0)).ticket, 0), undefined);
  t.is(book.failed(allowed(book.attempt('10.0.0.1', 'alice', 1_000)).ticket, 1_000), undefined, 'the first failure has left the window');
  t.like(book.failed(allowed(book.attempt('10.0.0.1', 'alice', 1_500)).ticket, 1_500), { scope: 'source', until: 61_500 }, 'two within the window ban');
});

test('a burst of attempts is counted as it arrives: no more than the threshold are let through to be checked at once', (t) => {
  const book = new BanBook({ threshold: 3, accountThreshold: 2, windowMs: 60_000, durationMs: 60_000 });
  const burst = (accounts: (n: number) => string) => Array.from({ length: 10 }, (_, n) => book.attempt('10.0.0.1', accounts(n), 0));
  const sameAccount = burst(() => 'alice');
  t.is(sameAccount.filter((verdict) => verdict?.allowed).length, 2, 'against one account, the account threshold are checked');
  t.true(sameAccount.slice(2).every((verdict) => verdict === undefined), 'the rest wait for their outcome');
  const manyAccounts = burst((n) => `user${n}`);
  t.is(manyAccounts.filter((verdict) => verdict?.allowed).length, 1, 'across accounts, the address threshold (3 with the two above) holds');
});

test('an address ban uses up the failures that made it: one more failure after it ends does not ban again', (t) => {
  const book = new BanBook({ threshold: 2, accountThreshold: 10, windowMs: 60_000, durationMs: 1_000 });
  t.is(book.failed(allowed(book.attempt('10.0.0.1', 'alice', 0)).ticket, 0), undefined);
  t.like(book.failed(allowed(book.attempt('10.0.0.1', 'bob', 0)).ticket, 0), { scope: 'source', until: 1_000 });
  t.like(book.attempt('10.0.0.1', 'carol', 999), { allowed: false, ban: { until: 1_000 } });
  t.is(book.failed(allowed(book.attempt('10.0.0.1', 'carol', 1_000)).ticket, 1_000), undefined, 'one failure is not two, though the old ones are still in the window');
});

test('an attempt whose outcome is never known counts neither as a failure nor as a success', (t) => {
  const book = new BanBook({ threshold: 2, windowMs: 60_000, durationMs: 60_000 });
  book.failed(allowed(book.attempt('10.0.0.1', 'alice', 0)).ticket, 0);
  const lost = allowed(book.attempt('10.0.0.1', 'alice', 0));
  t.is(book.attempt('10.0.0.1', 'alice', 0), undefined, 'a third waits on the one being checked');
  book.abandoned(lost.ticket, 0);
  const next = allowed(book.attempt('10.0.0.1', 'alice', 0));
  t.like(book.failed(next.ticket, 0), { scope: 'source' }, 'the earlier failure still counts: the lost one cleared nothing');
});

test('pruning forgets only what no longer matters: bans, failures in the window and checks in progress stay', (t) => {
  const book = new BanBook({ threshold: 2, accountThreshold: 5, windowMs: 1_000, durationMs: 10_000 });
  book.failed(allowed(book.attempt('10.0.0.1', 'alice', 0)).ticket, 0);
  book.failed(allowed(book.attempt('10.0.0.1', 'bob', 0)).ticket, 0);
  book.failed(allowed(book.attempt('10.0.0.2', 'alice', 500)).ticket, 500);
  const checking = allowed(book.attempt('10.0.0.3', 'alice', 500));
  book.attempt('10.0.0.3', 'alice', 500);
  book.prune(900);
  t.like(book.attempt('10.0.0.1', 'carol', 900), { allowed: false, ban: { scope: 'source' } }, 'a ban survives pruning');
  t.like(book.failed(allowed(book.attempt('10.0.0.2', 'alice', 900)).ticket, 900), { scope: 'source' }, 'a failure in the window survives pruning');
  t.is(book.attempt('10.0.0.3', 'alice', 900), undefined, 'checks in progress survive pruning');
  book.succeeded(checking.ticket, 900);
});

test('a ban is described with when to try again, and an account ban points to another address', (t) => {
  const until = Date.UTC(2030, 0, 2, 3, 4, 5);
  t.is(describeBan({ scope: 'source', source: '10.0.0.1', until }), 'too many failed logins from 10.0.0.1; try again after 2030-01-02T03:04:05.000Z');
  t.regex(describeBan({ scope: 'account', source: '10.0.0.1', account: 'alice', until }), /to this account from 10\.0\.0\.1; try again after 2030-01-02T03:04:05\.000Z, or from another address$/);
});
