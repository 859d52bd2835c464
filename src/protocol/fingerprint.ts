/**
 * Certificate fingerprints in the one form Ferry shows and accepts everywhere: the
 * server's start-up log, its mDNS record, `--fingerprint`, the known-hosts file and
 * every message. It is OpenSSH's form, `SHA256:` and the unpadded base64 of the
 * SHA-256 of the certificate (DER), so what the log prints can be pasted as it is.
 * The colon-separated hex that OpenSSL and Node print is accepted as input too.
 * Pure: no I/O.
 */

import { createHash, type X509Certificate } from 'node:crypto';
import { ferryError } from './errors.js';

const PREFIX = 'SHA256:';
const DIGEST_BYTES = 32;

/** The fingerprint of a certificate's SHA-256 digest. */
export function fingerprintOfDigest(digest: Buffer): string {
  return PREFIX + digest.toString('base64').replace(/=+$/, '');
}

/** The fingerprint of a certificate. */
export function certificateFingerprint(certificate: X509Certificate): string {
  return fingerprintOfDigest(createHash('sha256').update(certificate.raw).digest());
}

/** The digest a fingerprint names, or undefined when `text` is not one. */
function digestOf(text: string): Buffer | undefined {
  const body = text.trim().replace(/^sha256:/i, '');
  if (/^([0-9a-f]{2}:){31}[0-9a-f]{2}$/i.test(body)) return Buffer.from(body.replaceAll(':', ''), 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(body)) {
    const digest = Buffer.from(body, 'base64');
    if (digest.length === DIGEST_BYTES) return digest;
  }
  return undefined;
}

/** `text` in the canonical form, or undefined when it is not a SHA-256 fingerprint. */
export function canonicalFingerprint(text: string): string | undefined {
  const digest = digestOf(text);
  return digest && fingerprintOfDigest(digest);
}

/** Parses a fingerprint the user typed, saying what is expected when it is not one. */
export function parseFingerprint(text: string): string {
  const fingerprint = canonicalFingerprint(text);
  if (fingerprint === undefined) {
    throw ferryError('USAGE', `"${text}" is not a certificate fingerprint; copy it from the server's start-up log, where it reads SHA256:... (43 characters after the colon)`);
  }
  return fingerprint;
}
