import test from 'ava';
import { randomBytes, scryptSync } from 'node:crypto';
import { ARGON2_COST, hashPassword, isPasswordHash, needsRehash, parseScryptHash, verifyPassword } from '../../src/auth/password.js';

test('a new hash is argon2id at OWASP strength (19 MiB, 2 passes, 1 lane) in PHC form, and needs no upgrade', async (t) => {
  const stored = await hashPassword('correct horse battery staple');
  const match = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(stored);
  t.truthy(match, stored);
  const [, m, time, p, salt] = match as unknown as [string, string, string, string, string];
  t.true(Number(m) >= 19_456, 'at least 19 MiB');
  t.true(Number(time) >= 2, 'at least 2 passes');
  t.is(Number(p), ARGON2_COST.parallelism);
  t.true(Buffer.from(salt, 'base64').length >= 16, 'the salt is at least 16 bytes');
  t.true(isPasswordHash(stored));
  t.false(needsRehash(stored));
  t.false(stored.includes('correct horse'), 'the password itself is not stored');
});

test('an old scrypt hash verifies and is marked for an upgrade', async (t) => {
  const salt = randomBytes(16);
  const key = scryptSync('old-password', salt, 32, { N: 16384, r: 8, p: 1 });
  const stored = ['scrypt', 16384, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
  t.true(isPasswordHash(stored));
  t.true(needsRehash(stored));
  t.true(await verifyPassword('old-password', stored));
  t.false(await verifyPassword('old-passwore', stored));
});

test('two hashes of the same password differ, because each has its own salt, and both verify', async (t) => {
  const [first, second] = await Promise.all([hashPassword('s3cret'), hashPassword('s3cret')]);
  t.not(first, second);
  t.not(first.split('$')[4], second.split('$')[4], 'the salts differ');
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
    '$argon2id$v=19$m=19456,t=2,p=1$',
    '$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
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
  t.deepEqual(parseScryptHash(stored)?.cost, { N: 1024, r: 4, p: 2 });
  t.true(await verifyPassword('legacy', stored));
  t.false(await verifyPassword('Legacy', stored));
});
