import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import { DEFAULT_PORT, formatServerAddress, parseServerAddress } from '../../src/cli/server-address.js';
import { FerryError } from '../../src/protocol/errors.js';
import { holds } from './property.js';

function usage(t: ExecutionContext, input: string): void {
  const error = t.throws(() => parseServerAddress(input), { instanceOf: FerryError }, JSON.stringify(input));
  t.is(error?.code, 'USAGE', JSON.stringify(input));
}

const port = fc.integer({ min: 1, max: 65535 });
const host = fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6(), fc.constantFrom('localhost', 'nas', 'NAS.local', '::1', '::', 'fe80::1'));

test('formatting an address and parsing it back gives the same host and port, for names, IPv4 and IPv6', (t) => {
  holds(
    t,
    fc.property(host, port, (name, number) => {
      const text = formatServerAddress({ host: name, port: number });
      assert.deepEqual(parseServerAddress(text), { host: name, port: number }, text);
      return true;
    }),
    { numRuns: 1000 },
  );
});

test('an IPv6 address is written in brackets when a port follows', (t) => {
  t.is(formatServerAddress({ host: '::1', port: 9000 }), '[::1]:9000');
  t.is(formatServerAddress({ host: '10.0.0.5', port: 8080 }), '10.0.0.5:8080');
  t.is(formatServerAddress({ host: 'nas.local', port: 1 }), 'nas.local:1');
});

test('without a port the default port 8080 is used', (t) => {
  t.is(DEFAULT_PORT, 8080);
  t.deepEqual(parseServerAddress('nas.local'), { host: 'nas.local', port: 8080 });
  t.deepEqual(parseServerAddress('10.0.0.5'), { host: '10.0.0.5', port: 8080 });
  t.deepEqual(parseServerAddress('[::1]'), { host: '::1', port: 8080 });
  t.deepEqual(parseServerAddress('fe80::1'), { host: 'fe80::1', port: 8080 });
  t.deepEqual(parseServerAddress('  localhost  '), { host: 'localhost', port: 8080 });
});

test('ports at both ends of the range are accepted', (t) => {
  t.deepEqual(parseServerAddress('h:1'), { host: 'h', port: 1 });
  t.deepEqual(parseServerAddress('h:65535'), { host: 'h', port: 65535 });
  t.deepEqual(parseServerAddress('[::1]:65535'), { host: '::1', port: 65535 });
});

test('a port outside 1..65535 or not written in digits is refused with USAGE', (t) => {
  for (const bad of ['0', '65536', '99999', '123456', '-1', '+80', '80a', 'abc', '1e3', '0x50', '8.0', ' 80', '80 80', '']) {
    usage(t, `nas.local:${bad}`);
    usage(t, `[::1]:${bad}`);
  }
});

test('an empty or blank address is refused with USAGE', (t) => {
  for (const blank of ['', ' ', '\t', '\n  ']) usage(t, blank);
});

test('an address with no host, or a host with a space, slash, backslash or @, is refused with USAGE', (t) => {
  for (const bad of [':8080', 'my nas:8080', 'nas/share', 'nas\\share', 'alice@nas', 'alice@nas:22']) usage(t, bad);
});

test('text with several colons is taken for a bare IPv6 address only when it is one', (t) => {
  for (const ipv6 of ['::1', '2001:db8::1', '::ffff:10.0.0.5']) t.deepEqual(parseServerAddress(ipv6), { host: ipv6, port: 8080 });
  // A host with two ports, or a name that would be refused with one colon, must not slip through as "IPv6".
  for (const bad of ['nas.local:8080:9090', 'my nas:8080:9090', 'alice@nas:1:2', '::1:', ':::']) usage(t, bad);
});

test('text in brackets is accepted only when it is an IPv6 address', (t) => {
  t.deepEqual(parseServerAddress('[fe80::1]:9000'), { host: 'fe80::1', port: 9000 });
  for (const bad of ['[:]', '[my nas]:8080', '[nas/share]', '[alice@nas]:22', '[ ]']) usage(t, bad);
});

test('any string is either refused with USAGE or gives a host without spaces and a port in range', (t) => {
  const piece = fc.oneof(fc.constantFrom(':', '[', ']', ' ', '@', '/', '8080', '::1', 'nas'), fc.string({ maxLength: 6 }));
  holds(
    t,
    fc.property(fc.array(piece, { maxLength: 6 }).map((pieces) => pieces.join('')), (input) => {
      let address: { host: string; port: number };
      try {
        address = parseServerAddress(input);
      } catch (error) {
        if (!(error instanceof FerryError)) throw error;
        assert.equal(error.code, 'USAGE');
        return true;
      }
      assert.ok(Number.isInteger(address.port) && address.port >= 1 && address.port <= 65535, `port ${address.port}`);
      assert.ok(address.host !== '' && !/[\s/\\@]/.test(address.host), `host ${JSON.stringify(address.host)} from ${JSON.stringify(input)}`);
      if (address.host.includes(':')) assert.ok(isIPv6(address.host), `${JSON.stringify(address.host)} is not an IPv6 address`);
      return true;
    }),
    { numRuns: 1000 },
  );
});
