/** What the operator and the LAN are told once the service listens: addresses, fingerprint, mDNS. */

import { networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { settingAssignment } from '../config/schema.js';
import type { Announcement } from '../lan/mdns.js';
import { terminalQrCode } from '../ops/qr-code.js';

/** The addresses other devices on the LAN can use: each non-internal IPv4. */
export function lanAddresses(): { iface: string; address: string }[] {
  return Object.entries(networkInterfaces()).flatMap(([iface, infos]) =>
    (infos ?? []).filter((info) => info.family === 'IPv4' && !info.internal).map((info) => ({ iface, address: info.address })),
  );
}

/**
 * Tells the operator where the service listens, where it keeps files, the TLS
 * fingerprint clients will be asked to trust, and what other devices should type.
 */
export function announce(config: Config, logger: Logger, port: number, fingerprint: string | undefined): void {
  const host = config.get('server.host');
  if (fingerprint) {
    logger.info(
      { event: 'listening', host, port, tls: true, fingerprint },
      `Ferry is listening on ${host}:${port} with TLS; certificate fingerprint ${fingerprint}`,
    );
  } else {
    logger.info({ event: 'listening', host, port, tls: false }, `Ferry is listening on ${host}:${port}`);
    logger.warn(
      { event: 'plain', host, port },
      `TLS is off (${settingAssignment('tls.enabled', 'false')}): passwords and files cross the network readable by anyone on it; clients need --no-tls`,
    );
  }
  if (config.get('storage') === 's3') {
    const { endpoint, bucket, prefix } = config.get('s3');
    logger.info({ event: 'storage', kind: 's3', endpoint: endpoint || 'AWS', bucket, prefix }, `files are kept in the S3 bucket "${bucket}" at ${endpoint || 'AWS S3'}`);
  } else {
    const dir = resolve(config.get('dataDir'), 'files');
    logger.info({ event: 'storage', kind: 'local', dir }, `files are kept in ${dir}`);
  }
  const trust = fingerprint ? `--fingerprint ${fingerprint}` : '--no-tls';
  for (const { iface, address } of lanAddresses()) {
    logger.info({ event: 'lan-address', iface, address, port }, `from another device: ferry -s ${address}:${port} ${trust} -u NAME ls`);
  }
}

/** Announces the service over mDNS unless that is turned off; a failure to announce is logged, not fatal. */
export async function advertise(config: Config, logger: Logger, port: number, fingerprint: string | undefined, webPort?: number): Promise<Announcement | undefined> {
  if (!config.get('mdns')) return undefined;
  try {
    const { announceService, SERVICE_TYPE, WEB_SERVICE_TYPE } = await import('../lan/mdns.js');
    const announcement = announceService(port, fingerprint, webPort);
    logger.info({ event: 'mdns', type: `_${SERVICE_TYPE}._tcp`, port }, `announced as _${SERVICE_TYPE}._tcp on the LAN (ferry discover finds it)`);
    if (webPort !== undefined) logger.info({ event: 'mdns', type: `_${WEB_SERVICE_TYPE}._tcp`, port: webPort }, `announced the web client as _${WEB_SERVICE_TYPE}._tcp on the LAN`);
    return announcement;
  } catch (error) {
    logger.warn({ err: error }, 'could not announce the service over mDNS; clients need the address');
    return undefined;
  }
}

/**
 * Tells the operator where the web client is: one https:// address per LAN
 * interface, with the fingerprint a browser's warning about the self-made
 * certificate should show, and a QR code of it when the log goes to a terminal.
 */
export function announceWeb(config: Config, logger: Logger, port: number | undefined, fingerprint: string | undefined): void {
  if (port === undefined) return;
  const host = config.get('web.host');
  // Browsers show a certificate's SHA-256 in hex, not in the CLI's base64 form.
  const shown = fingerprint ? Buffer.from(fingerprint.replace(/^SHA256:/, ''), 'base64').toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:') : 'unknown';
  logger.info({ event: 'web-listening', host, port, fingerprint: shown }, `web client on https://${host}:${port}/ (certificate SHA-256 ${shown})`);
  const addresses = lanAddresses();
  for (const { iface, address } of addresses) {
    const url = `https://${address}:${port}/`;
    logger.info({ event: 'web-address', iface, url }, `from a phone or browser: ${url} (the browser warns about the certificate: proceed only if its SHA-256 fingerprint is ${shown})`);
  }
  const first = addresses[0];
  if (first && process.stdout.isTTY) process.stdout.write(`${terminalQrCode(`https://${first.address}:${port}/`)}\n`);
}
