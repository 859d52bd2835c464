import test from 'ava';
import { createHash, X509Certificate } from 'node:crypto';
import { createSelfSignedCertificate } from '../../src/ops/certificate.js';

test('the certificate fingerprint is the SHA-256 of the DER certificate, as 32 upper-case hex pairs joined by colons', async (t) => {
  const { cert, fingerprint } = await createSelfSignedCertificate(1);
  t.regex(fingerprint, /^(?:[0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  const der = new X509Certificate(cert).raw;
  const expected = createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)?.join(':') ?? '';
  t.is(fingerprint, expected, 'what docs/protocol.md tells a second client to compute');
});
