/**
 * Opening a connection to a Ferry server: TCP or TLS (trusted as tls-pinning.ts
 * judges), each failure told apart so the user knows what to check, then the
 * HELLO/WELCOME handshake. What follows on the connection is multiplexer.ts's.
 */

import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { EXPIRED, withDeadline } from '../io/deadline.js';
import { FerryError, ferryError, systemErrorCode } from '../protocol/errors.js';
import { FrameType, parseJsonPayload } from '../protocol/frames.js';
import { CAPABILITIES, PROTOCOL_NAME, PROTOCOL_VERSION, parseWelcome, type Welcome } from '../protocol/messages.js';
import { FrameChannel } from '../transport/channel.js';
import { VERSION } from '../version.js';
import { TLS_OFF } from './environment.js';
import { serverError } from './multiplexer.js';
import { fingerprintOfPeer, judgeCertificate, type TlsTrust } from './tls-pinning.js';

const CLIENT_AGENT = `ferry-cli/${VERSION}`;
/** The client accepts larger control frames than it sends (listings come in batches). */
const CLIENT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface ConnectOptions {
  host: string;
  port: number;
  connectTimeoutMs?: number;
  /** The local address to connect from (a host with several). */
  localAddress?: string;
  /** Speak TLS, trusting the server this way. */
  tls?: TlsTrust;
}

const CERT_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
]);

function connectFailure(error: unknown, host: string, port: number): FerryError {
  const where = serverLabel(host, port);
  const code = systemErrorCode(error) ?? '';
  if (CERT_ERRORS.has(code)) {
    return ferryError('TLS_UNTRUSTED', `the TLS certificate of ${where} is not signed by the CA you gave (${(error as Error).message}); check --ca, or the server's certificate`, error);
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long/i.test((error as Error).message)) {
    return ferryError('CONNECT_FAILED', `${where} does not speak TLS (a server started with ${TLS_OFF}?); to talk to it in plain text anyway, add --no-tls; else check the port`, error);
  }
  switch (code) {
    case 'ECONNREFUSED':
      return ferryError('CONNECT_FAILED', `cannot reach ${where}: connection refused; is the server running, and is port ${port} open in its firewall?`, error);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return ferryError('CONNECT_FAILED', `cannot resolve the host name "${host}"; check the spelling, or use its IP address ("ferry discover" lists servers on the LAN)`, error);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return ferryError('CONNECT_FAILED', `cannot reach ${where}: no route to the host; is this device on the same network as the server?`, error);
    case 'ETIMEDOUT':
      return ferryError(
        'CONNECT_FAILED',
        `cannot reach ${where}: no answer in time; check the address, and that a firewall is not dropping port ${port} ("ferry doctor -s ${where}" shows where the way stops)`,
        error,
      );
    default:
      return ferryError('CONNECT_FAILED', `cannot reach ${where}: ${(error as Error).message}`, error);
  }
}

export function serverLabel(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Resolves once `socket` emits `ready`, failing on error or after the timeout. A
 * timeout before TCP connected is a host that does not answer (a firewall dropping
 * packets: not worth retrying); after it, a server that took the connection but not
 * yet the TLS handshake (one starting or draining, say): a lost connection, retried.
 */
function connected(socket: Socket, ready: 'connect' | 'secureConnect', options: ConnectOptions): Promise<Socket> {
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let reached = false;
    socket.once('connect', () => (reached = true));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        reached
          ? ferryError('CONNECTION_LOST', `${serverLabel(options.host, options.port)} accepted the connection but did not finish the TLS handshake within ${timeoutMs} ms`)
          : connectFailure(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }), options.host, options.port),
      );
    }, timeoutMs);
    const failed = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(connectFailure(error, options.host, options.port));
    };
    socket.once(ready, () => {
      clearTimeout(timer);
      // From here a reset (a server stopping, say) surfaces through the channel's
      // reads as a lost connection; an 'error' event with no listener at all would
      // end the process instead, as it could between here and the greeting.
      socket.off('error', failed);
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', failed);
  });
}

async function openSocket(options: ConnectOptions): Promise<Socket> {
  const target = {
    host: options.host,
    port: options.port,
    noDelay: true,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  };
  const trust = options.tls;
  if (trust === undefined) return connected(netConnect(target), 'connect', options);
  const socket = tlsConnect({
    ...target,
    ...(isIP(options.host) ? {} : { servername: options.host }),
    minVersion: 'TLSv1.2',
    // A pinned server is checked by fingerprint below; a CA-checked one by the usual chain and name.
    rejectUnauthorized: trust.kind === 'ca',
    ...(trust.kind === 'ca' ? { ca: trust.ca } : {}),
  });
  await connected(socket, 'secureConnect', options);
  if (trust.kind === 'ca') return socket;
  const where = serverLabel(options.host, options.port);
  let verdict: Awaited<ReturnType<typeof judgeCertificate>>;
  try {
    verdict = await judgeCertificate(fingerprintOfPeer(socket as TLSSocket, where), trust, where);
  } catch (error) {
    socket.destroy();
    throw error;
  }
  if (verdict === 'trusted') return socket;
  // No connection is held open while a person reads the fingerprint (the server
  // would time it out); once trusted, a new one must show the same certificate.
  socket.destroy();
  if (!(await trust.approve(verdict))) {
    throw ferryError('TLS_UNTRUSTED', `the certificate of ${where} was not trusted; nothing was recorded or sent`);
  }
  await trust.knownHosts.set(where, verdict.fingerprint);
  return openSocket({ ...options, tls: { kind: 'pin', knownHosts: trust.knownHosts, approve: trust.approve } });
}

/** A connection that finished the handshake: its frames, and what the server said of itself. */
interface Greeted {
  channel: FrameChannel;
  welcome: Welcome;
  /** The server as `HOST:PORT`, for messages. */
  where: string;
}

/** Connects and says HELLO; resolves once the server answered WELCOME. */
export async function connectAndGreet(options: ConnectOptions): Promise<Greeted> {
  const socket = await openSocket(options);
  const channel = new FrameChannel(socket, { maxFrameBytes: CLIENT_MAX_FRAME_BYTES });
  const where = serverLabel(options.host, options.port);
  try {
    await channel.sendJson(FrameType.HELLO, 0, {
      protocol: PROTOCOL_NAME,
      version: PROTOCOL_VERSION,
      capabilities: [...CAPABILITIES],
      agent: CLIENT_AGENT,
    });
    // A server that accepted the connection but never answers (a host going down)
    // must not hang the client: past the deadline it counts as a lost connection.
    const frame = await withDeadline(channel.next(), options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    if (frame === EXPIRED) throw ferryError('CONNECTION_LOST', `${where} accepted the connection but did not answer the handshake`);
    if (frame === undefined) {
      const hint = options.tls ? 'is it a Ferry server?' : `it probably speaks TLS (the default): drop --no-tls (and ${TLS_OFF}); else check that it is a Ferry server`;
      throw ferryError('CONNECTION_LOST', `${where} closed the connection during the handshake; ${hint}`);
    }
    if (frame.type === FrameType.ERROR) throw serverError(frame);
    if (frame.type !== FrameType.WELCOME) throw ferryError('BAD_FRAME', `${where} did not answer like a Ferry server`);
    return { channel, welcome: parseWelcome(parseJsonPayload(frame)), where };
  } catch (error) {
    channel.destroy();
    if (error instanceof FerryError && error.code === 'BAD_FRAME') {
      const hint = options.tls ? 'check the port' : `it probably speaks TLS (the default): drop --no-tls (and ${TLS_OFF}); else check the port`;
      throw ferryError('CONNECT_FAILED', `${where} does not speak the plain Ferry protocol; ${hint}`, error);
    }
    throw error;
  }
}
