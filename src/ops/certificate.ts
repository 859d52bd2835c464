/**
 * The server's own certificate: self-signed for the LAN host, naming it by every
 * name and address clients are likely to use, made by `ferry-server tls init` or
 * on the first start that finds none. Clients pin its fingerprint on first use
 * (or are given it), so no CA is needed.
 */

import { X509Certificate } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import selfsigned from 'selfsigned';
import { certificateFingerprint } from '../protocol/fingerprint.js';
import { certificateFiles } from './certificate-files.js';

export interface Certificate {
  cert: string;
  key: string;
  fingerprint: string;
}

/** Names and addresses of this host: localhost, its host name, loopback and LAN addresses. */
function hostNames(): { dns: string[]; ips: string[] } {
  const host = hostname();
  const dns = [...new Set(['localhost', host, `${host.split('.')[0] ?? host}.local`])];
  const ips = ['127.0.0.1', '::1', ...Object.values(networkInterfaces()).flatMap((infos) => (infos ?? []).filter((info) => !info.internal).map((info) => info.address))];
  return { dns, ips: [...new Set(ips)] };
}

export async function createSelfSignedCertificate(days: number): Promise<Certificate> {
  const { dns, ips } = hostNames();
  const now = new Date();
  const pems = await selfsigned.generate([{ name: 'commonName', value: hostname() }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: new Date(now.getTime() + days * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [...dns.map((value) => ({ type: 2 as const, value })), ...ips.map((ip) => ({ type: 7 as const, ip }))] },
    ],
  });
  return { cert: pems.cert, key: pems.private, fingerprint: certificateFingerprint(new X509Certificate(pems.cert)) };
}

/**
 * Makes a certificate pair in `dir`. The key is written first and readable by its
 * owner only; the certificate appears last, by rename, so a crash midway never
 * leaves a certificate without its key.
 */
export async function writeSelfSignedCertificate(dir: string, days: number): Promise<Certificate & { certFile: string; keyFile: string }> {
  const made = await createSelfSignedCertificate(days);
  const { certFile, keyFile } = certificateFiles(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = `${certFile}.${process.pid}.tmp`;
  await writeFile(keyFile, made.key, { mode: 0o600 });
  await writeFile(temp, made.cert);
  await rename(temp, certFile);
  return { ...made, certFile, keyFile };
}
