/**
 * Where to connect: the -s address (or FERRY_SERVER), or with `-s auto` a server
 * found on the LAN by mDNS, whose unauthenticated record may add TLS but never
 * take it away.
 */

import { serverLabel } from '../client/client.js';
import { KnownHosts, defaultKnownHostsFile } from '../client/known-hosts.js';
import { discoverServers, type DiscoveredServer } from '../lan/mdns.js';
import { ferryError } from '../protocol/errors.js';
import { askLine } from './ask.js';
import type { LoginOptions } from './connect.js';
import { parseServerAddress } from './server-address.js';
import { CLIENT_ENV } from './environment.js';

const AUTO_DISCOVERY_MS = 2_000;

export function serverOf(options: LoginOptions) {
  return parseServerAddress(options.server ?? process.env[CLIENT_ENV.server] ?? 'localhost');
}

async function choose(servers: DiscoveredServer[]): Promise<DiscoveredServer> {
  const list = servers.map((server, n) => `  ${n + 1}. ${server.name}  ${server.addresses[0] ?? server.host}:${server.port}`).join('\n');
  if (!process.stdin.isTTY) {
    throw ferryError('USAGE', `several Ferry servers answered; pick one with -s HOST:PORT:\n${list}`);
  }
  const answer = await askLine(`Several Ferry servers answered:\n${list}\nWhich one (1-${servers.length})? `);
  const picked = servers[Number(answer) - 1];
  if (!picked) throw ferryError('USAGE', `"${answer}" is not one of 1 to ${servers.length}`);
  return picked;
}

/**
 * Where to connect: the -s address, or with `-s auto` the one server mDNS finds
 * (asking on a terminal when there are several). The record is unauthenticated:
 * it may add TLS and a fingerprint to check, never take TLS away from a server
 * this device has pinned.
 */
export async function resolveServer(options: LoginOptions): Promise<{ host: string; port: number; options: LoginOptions }> {
  const wanted = options.server ?? process.env[CLIENT_ENV.server];
  if (wanted?.trim().toLowerCase() !== 'auto') return { ...serverOf(options), options };
  const servers = await discoverServers(AUTO_DISCOVERY_MS);
  if (servers.length === 0) {
    throw ferryError('CONNECT_FAILED', 'no Ferry server answered on this network (mDNS); give its address with -s HOST[:PORT], or run "ferry doctor -s HOST" to see why it is not found');
  }
  const server = servers.length === 1 ? (servers[0] as DiscoveredServer) : await choose(servers);
  const host = server.addresses[0] ?? server.host;
  const found = { host, port: server.port };
  if (options.ca !== undefined) return { ...found, options };
  if (!server.tls) {
    const where = serverLabel(host, server.port);
    const pinned = await new KnownHosts(await defaultKnownHostsFile()).get(where);
    if (pinned !== undefined) {
      throw ferryError(
        'TLS_UNTRUSTED',
        `${where} announces itself on the network without TLS, but this device has talked to it over TLS (certificate ${pinned}). ` +
          `An announcement cannot turn TLS off: someone on the network may be impersonating it. Check the server; connect with -s ${where} to use TLS`,
      );
    }
    return { ...found, options };
  }
  return { ...found, options: { ...options, plain: false, ...(server.fingerprint ? { announced: server.fingerprint } : {}) } };
}
