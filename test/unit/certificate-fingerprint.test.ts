import test from 'ava';
import { createHash, X509Certificate } from 'node:crypto';
import { createSelfSignedCertificate } from '../../src/ops/certificate.js';

test('the certificate fingerprint is SHA256: and the unpadded base64 of the SHA-256 of the DER certificate', async (t) => {
  const { cert, fingerprint } = await createSelfSignedCertificate(1);
  t.regex(fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
  const der = new X509Certificate(cert).raw;
  const expected = `SHA256:${createHash('sha256').update(der).digest('base64').replace(/=+$/, '')}`;
  t.is(fingerprint, expected, 'what docs/protocol.md tells a second client to compute');
});
