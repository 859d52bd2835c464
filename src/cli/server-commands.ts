/**
 * The commands of `ferry` about servers rather than files: `trust` pins the
 * certificate a server shows now (after it was replaced on purpose), `discover`
 * lists the servers mDNS finds on the LAN.
 */

import { FerryClient, serverLabel } from '../client/client.js';
import { discoverServers } from '../lan/mdns.js';
import { ferryError } from '../protocol/errors.js';
import { tlsTrust } from './certificate-trust.js';
import type { LoginOptions } from './connect.js';
import { ExitCode } from './exit-codes.js';
import { serverOf } from './find-server.js';
import type { Output } from './output.js';

export async function trustServer(options: LoginOptions, out: Output): Promise<void> {
  const tls = options.ca === undefined && !options.plain ? await tlsTrust(options, { replace: true }) : undefined;
  if (tls?.kind !== 'pin') throw ferryError('USAGE', 'trust pins a TLS certificate: use it as ferry -s HOST[:PORT] trust (not with --ca or --no-tls)');
  const address = serverOf(options);
  const client = await FerryClient.connect({ ...address, tls });
  client.close();
  const where = serverLabel(address.host, address.port);
  const fingerprint = await tls.knownHosts.get(where);
  out.line(`trusted ${where}: certificate ${fingerprint ?? '?'} (recorded in ${tls.knownHosts.file})`);
  out.json({ server: where, fingerprint, knownHosts: tls.knownHosts.file });
}

export async function discover(timeout: string, out: Output): Promise<ExitCode> {
  const seconds = Number(timeout);
  if (!(seconds > 0)) throw ferryError('USAGE', `--timeout takes a number of seconds, not "${timeout}"`);
  const servers = await discoverServers(seconds * 1000);
  out.json(servers);
  if (servers.length === 0) {
    out.problem(`no Ferry server answered within ${seconds} s; is one running on this network with mDNS on? ("ferry doctor -s HOST" checks a known address)`);
    return ExitCode.NOT_FOUND;
  }
  for (const server of servers) {
    const tls = server.tls ? `TLS ${server.fingerprint ?? ''}` : 'plain';
    out.line(`${server.name}\t${server.addresses[0] ?? server.host}:${server.port}\tprotocol ${server.protocolVersion}\t${tls}`);
  }
  return ExitCode.OK;
}
