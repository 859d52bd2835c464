/**
 * `ferry doctor`: walks the path from this device to a server one step at a time
 * (name, network, TCP, handshake, TLS, login, a round trip, mDNS) and, for the
 * first step that fails, says the likely cause and the fix.
 */

import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { connect as netConnect, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Readable } from 'node:stream';
import { FerryClient, serverLabel, type TlsTrust } from '../client/client.js';
import { discoverServers, type DiscoveredServer } from '../lan/mdns.js';
import { FerryError, systemErrorCode } from '../protocol/errors.js';
import { PROTOCOL_VERSION } from '../protocol/messages.js';
import { tlsTrust } from './certificate-trust.js';
import { resolvePassword, resolveUser, type LoginOptions } from './connect.js';
import { ExitCode } from './exit-codes.js';
import { resolveServer } from './find-server.js';
import type { Output } from './output.js';
import { settingAssignment, settingName } from '../config/schema.js';
import { CLIENT_ENV, TLS_OFF } from './environment.js';

const TCP_TIMEOUT_MS = 3_000;
const MDNS_WAIT_MS = 2_000;

interface Check {
  name: string;
  ok: boolean;
  /** A check that failed but does not stop Ferry from working (mDNS). */
  warning?: boolean;
  detail: string;
  cause?: string;
  fix?: string;
}

type TcpOutcome = 'ok' | 'refused' | 'timeout' | 'unreachable' | 'other';

function tcpReach(host: string, port: number): Promise<{ outcome: TcpOutcome; message: string }> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port });
    const done = (outcome: TcpOutcome, message: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ outcome, message });
    };
    const timer = setTimeout(() => done('timeout', `no answer within ${TCP_TIMEOUT_MS / 1000} s`), TCP_TIMEOUT_MS);
    socket.once('connect', () => done('ok', 'the port accepts connections'));
    socket.once('error', (error) => {
      const code = systemErrorCode(error);
      if (code === 'ECONNREFUSED') done('refused', 'connection refused');
      else if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') done('unreachable', 'no route to the host');
      else done('other', error.message);
    });
  });
}

/** This device's IPv4 networks, and whether `address` is on one of them. */
function localNetwork(address: string): { onLink: boolean; mine: string[] } {
  const mine: string[] = [];
  let onLink = false;
  const toNumber = (ip: string): number => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
  for (const [iface, infos] of Object.entries(networkInterfaces())) {
    for (const info of infos ?? []) {
      if (info.family !== 'IPv4' || info.internal || !info.cidr) continue;
      mine.push(`${iface} ${info.cidr}`);
      const bits = Number(info.cidr.split('/')[1]);
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      if (isIP(address) === 4 && ((toNumber(address) & mask) >>> 0) === ((toNumber(info.address) & mask) >>> 0)) onLink = true;
    }
  }
  return { onLink, mine };
}

class Doctor {
  readonly checks: Check[] = [];

  pass(name: string, detail: string): void {
    this.checks.push({ name, ok: true, detail });
  }

  warn(name: string, detail: string, cause: string, fix: string): void {
    this.checks.push({ name, ok: false, warning: true, detail, cause, fix });
  }

  fail(name: string, detail: string, cause: string, fix: string): false {
    this.checks.push({ name, ok: false, detail, cause, fix });
    return false;
  }
}

function openFirewallFix(port: number): string {
  return `on the server run: sudo scripts/open-firewall.sh ${port}   (Windows: scripts\\open-firewall.ps1 -Port ${port})`;
}

async function diagnose(doctor: Doctor, given: LoginOptions): Promise<boolean> {
  let host: string;
  let port: number;
  let options: LoginOptions;
  try {
    ({ host, port, options } = await resolveServer(given));
  } catch (error) {
    return doctor.fail('discover', (error as Error).message, 'no server announces itself here over mDNS', 'give the server address with -s HOST[:PORT]');
  }
  const where = serverLabel(host, port);
  const mdns = discoverServers(MDNS_WAIT_MS).catch((): DiscoveredServer[] => []);

  let address = host;
  try {
    address = isIP(host) ? host : (await lookup(host, { family: 4 })).address;
    doctor.pass('name', isIP(host) ? `${host} is an address` : `${host} is ${address}`);
  } catch (error) {
    return doctor.fail(
      'name',
      `cannot resolve "${host}": ${(error as Error).message}`,
      'the name is not known on this network',
      'use the server\'s IP address (the server prints it at start; "ferry discover" finds it)',
    );
  }

  const network = localNetwork(address);
  const loopback = address.startsWith('127.');
  if (loopback || network.onLink) doctor.pass('network', loopback ? 'the server is this device' : `${address} is on this device's network`);

  const tcp = await tcpReach(address, port);
  if (tcp.outcome !== 'ok') {
    const seen = (await mdns).find((server) => server.addresses.includes(address) && server.port === port);
    const subnet = !loopback && !network.onLink;
    if (subnet) {
      doctor.fail(
        'network',
        `${address} is not on this device's networks (${network.mine.join(', ') || 'none'})`,
        'the two devices are on different networks or subnets',
        'join the same Wi-Fi or LAN as the server, or check that a router forwards between the subnets',
      );
    }
    if (tcp.outcome === 'refused') {
      return doctor.fail('reach', `${where}: ${tcp.message}`, `nothing listens on port ${port} there (the server is not running, or uses another port), or a firewall rejects it`, `start the server (npm start) and check ${settingName('server.port')}; if it runs, ${openFirewallFix(port)}`);
    }
    if (tcp.outcome === 'timeout' && seen) {
      return doctor.fail(
        'reach',
        `${where}: ${tcp.message}, although the server announces itself over mDNS`,
        `the server is up, but its firewall drops port ${port}; if the firewall is open, the Wi-Fi isolates devices from each other (AP/client isolation)`,
        `${openFirewallFix(port)}; if that does not help, turn off client isolation on the access point or use a cable`,
      );
    }
    if (tcp.outcome === 'timeout') {
      return doctor.fail('reach', `${where}: ${tcp.message}`, `a firewall drops port ${port}, or the host is off or unreachable`, `check that the server runs and ${openFirewallFix(port)}`);
    }
    return doctor.fail('reach', `${where}: ${tcp.message}`, 'the host cannot be reached from this device', 'check the address and that both devices are on the same network');
  }
  doctor.pass('reach', `${where} accepts TCP connections`);

  let trust: TlsTrust | undefined;
  try {
    trust = await tlsTrust(options);
  } catch (error) {
    return doctor.fail('tls', (error as Error).message, 'the CA file cannot be read', 'check the path given to --ca');
  }
  let client: FerryClient;
  try {
    // By name, as every other command connects: the pin is kept under `name:port` and a CA vouches for the name.
    client = await FerryClient.connect({ host, port, ...(trust ? { tls: trust } : {}) });
  } catch (error) {
    const failure = error instanceof FerryError ? error : undefined;
    if (failure?.code === 'UNSUPPORTED_VERSION') {
      return doctor.fail('handshake', failure.message, 'the client and server are different versions', 'install the same Ferry version on both');
    }
    if (failure?.code === 'TLS_UNTRUSTED') return doctor.fail('tls', failure.message, 'the certificate does not match what this device trusts', `if the server got a new certificate on purpose: ferry -s ${where} trust`);
    return doctor.fail(
      'handshake',
      (error as Error).message,
      trust ? `the server may not use TLS (started with ${TLS_OFF})` : 'the port may belong to another program, or the server uses TLS (the default)',
      trust ? 'if it really is a plain server on a network you trust, add --no-tls; better, turn TLS back on at the server' : `drop --no-tls (and ${TLS_OFF}), or check the port`,
    );
  }
  doctor.pass('handshake', `Ferry protocol version ${client.welcome.version} (this client speaks ${PROTOCOL_VERSION})`);
  if (trust === undefined) {
    doctor.warn(
      'tls',
      'off: the password and files cross the network readable by anyone on it',
      `the server runs with ${TLS_OFF} and this client with --no-tls`,
      `turn TLS back on: remove ${TLS_OFF} from the server and restart it, then drop --no-tls here`,
    );
  } else {
    const pinned = trust.kind === 'pin' ? await trust.knownHosts.get(where) : undefined;
    doctor.pass('tls', pinned === undefined ? 'certificate verified against the CA' : `certificate ${pinned} matches the pinned fingerprint`);
  }

  try {
    const user = await resolveUser(options);
    const login = await client.login(user, await resolvePassword(options, user));
    doctor.pass('login', `logged in as ${login.user} (home ${login.home})`);
    if (login.permissions.includes('write') && login.permissions.includes('delete')) {
      const probe = `/.ferry-doctor-${randomBytes(4).toString('hex')}`;
      const data = randomBytes(64 * 1024);
      await client.upload(probe, { size: data.length, open: () => Readable.from([data]) });
      let received = 0;
      await client.download(probe, { write: async (chunk) => void (received += chunk.length) });
      await client.remove(probe);
      doctor.pass('round trip', `sent and received ${received} bytes intact`);
    } else {
      await client.list('/');
      doctor.pass('round trip', 'listed the home folder (read-only account)');
    }
  } catch (error) {
    const failure = error instanceof FerryError ? error : undefined;
    if (failure?.code === 'AUTH_FAILED' || failure?.code === 'BANNED' || failure?.code === 'USAGE') {
      return doctor.fail('login', failure.message, 'the user name or password is wrong, or missing', `give -u NAME and the password (${CLIENT_ENV.password}, --password-stdin or the prompt)`);
    }
    return doctor.fail('round trip', (error as Error).message, 'the server cannot store files', 'check free space and permissions of the data folder on the server');
  } finally {
    client.close();
  }

  const seen = (await mdns).some((server) => server.port === port && (server.addresses.includes(address) || loopback));
  if (seen) doctor.pass('mdns', 'the server announces itself: "ferry discover" and "-s auto" find it');
  else doctor.warn('mdns', 'no mDNS announcement seen for this server', `mDNS is off on the server (${settingAssignment('mdns', 'false')}) or multicast does not pass`, 'use the address directly; discovery is optional');
  return true;
}

export async function runDoctor(options: LoginOptions, out: Output): Promise<ExitCode> {
  const doctor = new Doctor();
  const ok = await diagnose(doctor, options);
  for (const check of doctor.checks) {
    const mark = check.ok ? 'ok  ' : check.warning ? 'warn' : 'FAIL';
    out.line(`${mark} ${check.name.padEnd(10)} ${check.detail}`);
    if (check.cause) out.line(`     ${''.padEnd(10)} likely cause: ${check.cause}`);
    if (check.fix) out.line(`     ${''.padEnd(10)} fix: ${check.fix}`);
  }
  out.json({ ok, checks: doctor.checks });
  return ok ? ExitCode.OK : ExitCode.CONNECTION;
}
