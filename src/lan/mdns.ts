/**
 * Finding Ferry servers on the LAN: the server announces `_ferry._tcp` over
 * mDNS/DNS-SD with its port, protocol version and TLS fingerprint in TXT records;
 * the client browses for it. Both ends share the record layout defined here.
 */

import { Bonjour, type Service } from 'bonjour-service';
import { hostname } from 'node:os';
import { canonicalFingerprint } from '../protocol/fingerprint.js';
import { PROTOCOL_VERSION } from '../protocol/messages.js';

export const SERVICE_TYPE = 'ferry';
/** The web client, as browsers' and phones' service browsers list HTTPS sites. */
export const WEB_SERVICE_TYPE = 'https';

export interface Announcement {
  stop(): Promise<void>;
}

export interface DiscoveredServer {
  name: string;
  host: string;
  /** IPv4 addresses first, as they are what most LAN clients can reach. */
  addresses: string[];
  port: number;
  protocolVersion: number;
  tls: boolean;
  /** What the record claims; unauthenticated, so it may only add checks, never remove one. */
  fingerprint: string | undefined;
}

/** Announces this server until stopped. */
export function announceService(port: number, fingerprint: string | undefined, webPort?: number): Announcement {
  const bonjour = new Bonjour();
  const txt: Record<string, string> = { v: String(PROTOCOL_VERSION), tls: fingerprint ? '1' : '0' };
  if (fingerprint) txt.fp = fingerprint;
  if (webPort !== undefined) txt.web = String(webPort);
  bonjour.publish({ name: `Ferry on ${hostname()}`, type: SERVICE_TYPE, port, txt, disableIPv6: true });
  if (webPort !== undefined) {
    const web: Record<string, string> = { path: '/' };
    if (fingerprint) web.fp = fingerprint;
    bonjour.publish({ name: `Ferry web on ${hostname()}`, type: WEB_SERVICE_TYPE, port: webPort, txt: web, disableIPv6: true });
  }
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        bonjour.unpublishAll(() => bonjour.destroy(() => resolve()));
      }),
  };
}

function isIPv4(address: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(address);
}

function describe(service: Service): DiscoveredServer {
  const txt = (service.txt ?? {}) as Record<string, unknown>;
  const addresses = [...(service.addresses ?? [])].sort((a, b) => Number(isIPv4(b)) - Number(isIPv4(a)));
  if (addresses.length === 0 && service.referer?.address) addresses.push(service.referer.address);
  return {
    name: service.name,
    host: service.host,
    addresses,
    port: service.port,
    protocolVersion: Number(txt.v ?? 0),
    tls: String(txt.tls ?? '0') === '1',
    fingerprint: typeof txt.fp === 'string' ? canonicalFingerprint(txt.fp) : undefined,
  };
}

/** Browses for `timeoutMs` and returns every Ferry server that answered. */
export async function discoverServers(timeoutMs: number): Promise<DiscoveredServer[]> {
  const bonjour = new Bonjour();
  const found = new Map<string, DiscoveredServer>();
  const browser = bonjour.find({ type: SERVICE_TYPE }, (service) => {
    const server = describe(service);
    found.set(`${server.name}|${server.port}`, server);
  });
  await new Promise((resolve) => setTimeout(resolve, timeoutMs));
  browser.stop();
  await new Promise<void>((resolve) => bonjour.destroy(() => resolve()));
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}
