/**
 * `ferry-server tls init`: a self-signed certificate for the LAN host, naming it
 * by every name and address clients are likely to use. Clients pin its
 * fingerprint on first use, so no CA is needed.
 */

import { X509Certificate } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import selfsigned from 'selfsigned';

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
  return { cert: pems.cert, key: pems.private, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}
