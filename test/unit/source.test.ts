import test from 'ava';
import fc from 'fast-check';
import { sourceKey } from '../../src/auth/source.js';
import { holds } from './property.js';

test('an IPv4 address counts as itself, and an IPv4-mapped IPv6 address counts as that IPv4 address', (t) => {
  t.is(sourceKey('10.0.0.5'), '10.0.0.5');
  t.is(sourceKey('::ffff:10.0.0.5'), '10.0.0.5');
  t.is(sourceKey('::FFFF:127.0.0.1'), '127.0.0.1');
  t.is(sourceKey('0:0:0:0:0:ffff:a00:5'), '10.0.0.5');
});

test('IPv6 addresses count per /64, however they are written', (t) => {
  t.is(sourceKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  t.is(sourceKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  t.is(sourceKey('2001:0db8:0001:0002:0000:0000:0000:0009'), '2001:db8:1:2::/64');
  t.is(sourceKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  t.is(sourceKey('::1'), '0:0:0:0::/64');
  t.not(sourceKey('2001:db8:1:3::1'), sourceKey('2001:db8:1:2::1'));
});

test('every address of one /64 gets the same key, and addresses of different /64s get different keys', (t) => {
  const group = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
  const prefix = fc.array(group, { minLength: 4, maxLength: 4 }).filter((p) => p[0] !== '0');
  const suffix = fc.array(group, { minLength: 4, maxLength: 4 });
  holds(
    t,
    fc.property(prefix, suffix, suffix, prefix, (p, a, b, q) => {
      const key = sourceKey([...p, ...a].join(':'));
      if (key !== sourceKey([...p, ...b].join(':'))) return false;
      const same = p.every((g, i) => parseInt(g, 16) === parseInt(q[i] as string, 16));
      return same === (key === sourceKey([...q, ...a].join(':')));
    }),
  );
});
