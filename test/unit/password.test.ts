import test from 'ava';
import { randomBytes, scryptSync } from 'node:crypto';
import { hashPassword, isPasswordHash, parsePasswordHash, verifyPassword } from '../../src/auth/password.js';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

test('a hash reads scrypt$N$r$p$salt$key with a base64 salt and a 32-byte base64 key', async (t) => {
  const stored = await hashPassword('correct horse battery staple');
  const parts = stored.split('$');
  t.is(parts.length, 6, stored);
  const [scheme, N, r, p, salt, key] = parts as [string, string, string, string, string, string];
  t.is(scheme, 'scrypt');
  for (const cost of [N, r, p]) t.regex(cost, /^[1-9]\d*$/);
  t.true(Number(N) >= 16384, 'N is at least the interactive-login strength of 2^14');
  t.is(Number(N) & (Number(N) - 1), 0, 'N is a power of two');
  t.regex(salt, BASE64);
  t.true(Buffer.from(salt, 'base64').length >= 16, 'the salt is at least 16 bytes');
  t.regex(key, BASE64);
  t.is(Buffer.from(key, 'base64').length, 32);
  t.true(isPasswordHash(stored));
  t.false(stored.includes('correct horse'), 'the password itself is not stored');
});

test('two hashes of the same password differ, because each has its own salt, and both verify', async (t) => {
  const [first, second] = await Promise.all([hashPassword('s3cret'), hashPassword('s3cret')]);
  t.not(first, second);
  t.not(parsePasswordHash(first)?.salt.toString('hex'), parsePasswordHash(second)?.salt.toString('hex'));
  t.true(await verifyPassword('s3cret', first));
  t.true(await verifyPassword('s3cret', second));
});

test('verifyPassword accepts the right password and refuses wrong ones', async (t) => {
  const password = 'pässwörd 😀 with spaces';
  const stored = await hashPassword(password);
  t.true(await verifyPassword(password, stored));
  for (const wrong of ['', 'pässwörd', `${password} `, password.toUpperCase(), password.normalize('NFD')]) {
    t.false(await verifyPassword(wrong, stored), JSON.stringify(wrong));
  }
});

test('an empty password hashes and verifies like any other', async (t) => {
  const stored = await hashPassword('');
  t.true(await verifyPassword('', stored));
  t.false(await verifyPassword(' ', stored));
});

test('with no stored hash (an unknown user) verifyPassword is false', async (t) => {
  t.false(await verifyPassword('anything', undefined));
  t.false(await verifyPassword('', undefined));
});

test('a stored value that is not a valid hash, such as a plain-text password, never verifies', async (t) => {
  const salt = Buffer.alloc(16, 1).toString('base64');
  const key = Buffer.alloc(32, 2).toString('base64');
  const malformed = [
    'hunter2',
    '',
    `scrypt$16384$8$1$${salt}`,
    `bcrypt$16384$8$1$${salt}$${key}`,
    `scrypt$0$8$1$${salt}$${key}`,
    `scrypt$x$8$1$${salt}$${key}`,
    `scrypt$16384$8$1$$${key}`,
    `scrypt$16384$8$1$${salt}$${Buffer.alloc(31).toString('base64')}`,
  ];
  for (const stored of malformed) {
    t.false(isPasswordHash(stored), stored);
    t.false(await verifyPassword('hunter2', stored), stored);
  }
});

test('a hash made with other scrypt costs still verifies, because the costs travel with it', async (t) => {
  const salt = randomBytes(16);
  const key = scryptSync('legacy', salt, 32, { N: 1024, r: 4, p: 2 });
  const stored = ['scrypt', 1024, 4, 2, salt.toString('base64'), key.toString('base64')].join('$');
  t.deepEqual(parsePasswordHash(stored)?.cost, { N: 1024, r: 4, p: 2 });
  t.true(await verifyPassword('legacy', stored));
  t.false(await verifyPassword('Legacy', stored));
});
