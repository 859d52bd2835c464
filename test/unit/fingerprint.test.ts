import test from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { canonicalFingerprint, fingerprintOfDigest, parseFingerprint } from '../../src/protocol/fingerprint.js';
import { ferryCodeOf, holds } from './property.js';

test('a fingerprint is written as SHA256: and 43 base64 characters, and reads back as itself', (t) => {
  holds(
    t,
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
      const printed = fingerprintOfDigest(Buffer.from(bytes));
      assert.match(printed, /^SHA256:[A-Za-z0-9+/]{43}$/);
      assert.equal(parseFingerprint(printed), printed);
      return true;
    }),
  );
});

test('the colon-separated hex that OpenSSL and Node print names the same fingerprint', (t) => {
  holds(
    t,
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.boolean(), (bytes, lower) => {
      const digest = Buffer.from(bytes);
      let hex = [...digest].map((byte) => byte.toString(16).padStart(2, '0')).join(':');
      hex = lower ? hex : hex.toUpperCase();
      assert.equal(canonicalFingerprint(hex), fingerprintOfDigest(digest));
      assert.equal(canonicalFingerprint(`SHA256:${hex}`), fingerprintOfDigest(digest));
      return true;
    }),
  );
});

test('anything else is not a fingerprint, and typing one is a usage error that says where to find it', (t) => {
  for (const text of ['', 'SHA256:', 'SHA256:abc', 'MD5:aa:bb', `SHA256:${'A'.repeat(44)}`, 'AA:BB:CC']) {
    t.is(canonicalFingerprint(text), undefined, text);
    t.is(ferryCodeOf(() => parseFingerprint(text)), 'USAGE', text);
  }
  t.regex(t.throws(() => parseFingerprint('nope'))?.message ?? '', /server's start-up log/);
});
