/**
 * Sealed web sessions: a cookie opens only as issued, with the key it was sealed
 * with, before its expiry and until it is logged out; the CSRF token belongs to
 * one session.
 */

import test from 'ava';
import { SessionSeal, cookieValue } from '../../src/web/session-seal.js';

const KEY = Buffer.from('-----BEGIN PRIVATE KEY----- test key material');

test('a sealed session opens as issued, and not after any change to it', (t) => {
  const seal = new SessionSeal(KEY, 60_000);
  const { token, session } = seal.issue('alice', 'credential-digest', 1_000);
  t.deepEqual(seal.open(token, 2_000), session);
  const [body, mac] = token.split('.') as [string, string];
  const forged = Buffer.from(JSON.stringify({ ...session, user: 'admin' })).toString('base64url');
  t.is(seal.open(`${forged}.${mac}`, 2_000), undefined);
  t.is(seal.open(`${body}.${mac.slice(0, -1)}A`, 2_000), undefined);
  t.is(seal.open(`${body}.${mac}.extra`, 2_000), undefined);
  t.is(seal.open(body, 2_000), undefined);
  t.is(seal.open(undefined), undefined);
  t.is(new SessionSeal(Buffer.from('another key'), 60_000).open(token, 2_000), undefined, 'another server key does not open it');
});

test('a session ends at its expiry and once it is forgotten (logout)', (t) => {
  const seal = new SessionSeal(KEY, 60_000);
  const { token, session } = seal.issue('alice', 'c', 0);
  t.is(seal.open(token, 60_000), undefined);
  t.truthy(seal.open(token, 59_999));
  seal.forget(session.id, session.expires, 10);
  t.is(seal.open(token, 20), undefined);
});

test('the CSRF token is the session\'s own', (t) => {
  const seal = new SessionSeal(KEY, 60_000);
  const one = seal.issue('alice', 'c').session;
  const other = seal.issue('alice', 'c').session;
  t.true(seal.checkCsrf(one, seal.csrfToken(one)));
  t.false(seal.checkCsrf(one, seal.csrfToken(other)));
  t.false(seal.checkCsrf(one, undefined));
  t.false(seal.checkCsrf(one, ''));
});

test('cookieValue finds one cookie among several', (t) => {
  t.is(cookieValue('a=1; ferry_session=abc.def; b=2', 'ferry_session'), 'abc.def');
  t.is(cookieValue('xferry_session=1', 'ferry_session'), undefined);
  t.is(cookieValue(undefined, 'ferry_session'), undefined);
});
