/**
 * The listener: accepts connections, enforces the connection limits, runs one
 * Session per connection and drains them on close. Knows nothing of the process
 * model, so a cluster worker runs the same server as a single process does.
 */

import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { once } from 'node:events';
import { sourceKey } from '../auth/source.js';
import { EXPIRED, withDeadline } from '../io/deadline.js';
import { RefusalLog } from '../log/refusal-log.js';
import { settingName } from '../config/schema.js';
import { ferryError, systemErrorCode } from '../protocol/errors.js';
import { ConnectionBook, LocalConnectionGate, type ConnectionGate, type ConnectionLimits } from './connection-book.js';
import { connectionErrorFrame } from './error-reply.js';
import { Session, type SessionContext } from './session.js';


export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

/** Time a raw connection has to finish its TLS handshake, unless configured. */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;
/** How often repeated login refusals from one source are summed up in the log, unless configured. */
const DEFAULT_AUTH_LOG_INTERVAL_MS = 60_000;

export interface FerryServerOptions extends SessionContext {
  host: string;
  port: number;
  connectionLimits: ConnectionLimits;
  /** Who counts connections; by default this process alone, with `connectionLimits`. */
  gate?: ConnectionGate;
  handshakeTimeoutMs?: number;
  authLogIntervalMs?: number;
  /** Serve TLS with this certificate and key; plain TCP without. */
  tls?: TlsMaterial;
}

/** A connection's remote address and port: the same for a raw socket and the TLS socket over it. */
export function endpoint(socket: Socket): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
}

export class FerryServer {
  private readonly server: Server;
  private readonly secure: TlsServer | undefined;
  private readonly gate: ConnectionGate;
  private readonly sessions = new Map<Session, Promise<void>>();
  /** Raw connections admitted and still in their TLS handshake, by remote endpoint (what the TLS socket also reports). */
  private readonly handshaking = new Map<string, Socket>();
  private readonly context: SessionContext;
  private readonly refusals: RefusalLog;
  /** Whether this server made its refusal log (and so closes it) or was lent one. */
  private readonly ownsRefusals: boolean;
  private unwatchUsers: (() => void) | undefined;
  /** Set by close(): a connection admitted after it (the gate may answer late, over IPC) is not served. */
  private closing = false;

  constructor(private readonly options: FerryServerOptions) {
    this.gate = options.gate ?? new LocalConnectionGate(new ConnectionBook(options.connectionLimits));
    this.ownsRefusals = options.refusals === undefined;
    this.refusals = options.refusals ?? new RefusalLog(options.logger, options.authLogIntervalMs ?? DEFAULT_AUTH_LOG_INTERVAL_MS);
    this.context = { ...options, refusals: this.refusals };
    if (options.tls) {
      // Never listens itself: raw connections are counted first, then handed to it.
      this.secure = createTlsServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          minVersion: 'TLSv1.2',
          noDelay: true,
          handshakeTimeout: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
        },
        (socket) => {
          // Handshake done: from here on a drain lets its session finish its request.
          this.handshaking.delete(endpoint(socket));
          this.serve(socket);
        },
      );
      // A plain client, a scanner, a client that distrusts us, or one too slow: nothing to serve.
      this.secure.on('tlsClientError', (error, socket) => {
        options.logger.debug({ event: 'tls-error', remote: socket.remoteAddress, err: error.message }, 'TLS handshake failed');
        socket.destroy();
      });
    }
    this.server = createServer({ noDelay: true }, (socket) => void this.accept(socket));
  }

  get connections(): number {
    return this.sessions.size;
  }

  async listen(): Promise<AddressInfo> {
    this.server.listen({ host: this.options.host, port: this.options.port });
    try {
      await once(this.server, 'listening'); // Rejects with the listen error, if there is one.
    } catch (error) {
      const hint = systemErrorCode(error) === 'EADDRINUSE' ? `; another program (or Ferry) already uses port ${this.options.port}: stop it or set ${settingName('server.port')}` : '';
      throw ferryError('CONFIG', `cannot listen on ${this.options.host}:${this.options.port}: ${(error as Error).message}${hint}`, error);
    }
    // Only now: a failure to listen is the start's own error, reported once by whoever started us.
    this.server.on('error', (error) => this.options.logger.error({ err: error }, 'listener error'));
    // A removed user or a changed password ends their live sessions at once.
    this.unwatchUsers = this.options.users.watch(() => {
      for (const session of this.sessions.keys()) session.reviewUser();
    });
    return this.server.address() as AddressInfo;
  }

  /** Counts a raw connection against the limits before it may cost a handshake or a session. */
  private async accept(socket: Socket): Promise<void> {
    socket.on('error', () => undefined); // The session sees failures through its reads.
    const source = sourceKey(socket.remoteAddress ?? '?');
    let refusal: string | undefined;
    try {
      refusal = await this.gate.admit(source);
    } catch {
      socket.destroy(); // No one to count it: the worker is being let go.
      return;
    }
    if (refusal !== undefined) {
      this.refusals.note(source, 'busy');
      if (this.secure) socket.destroy();
      else socket.end(connectionErrorFrame(ferryError('BUSY', `the server is at its limit of ${refusal}; try again shortly`)));
      return;
    }
    socket.once('close', () => this.gate.release(source));
    if (socket.destroyed || this.closing) {
      socket.destroy();
      return;
    }
    if (!this.secure) {
      this.serve(socket);
      return;
    }
    const key = endpoint(socket);
    this.handshaking.set(key, socket);
    socket.once('close', () => {
      if (this.handshaking.get(key) === socket) this.handshaking.delete(key);
    });
    this.secure.emit('connection', socket);
  }

  private serve(socket: Socket): void {
    if (this.closing) {
      // Not in the sessions the drain waits for: it would hold the close up.
      socket.destroy();
      return;
    }
    this.options.observer.connectionOpened();
    socket.on('error', () => undefined);
    const session = new Session(socket, this.context);
    const done = session.run().finally(() => {
      this.sessions.delete(session);
      this.options.observer.connectionClosed();
    });
    this.sessions.set(session, done);
  }

  /**
   * Stops accepting, lets requests in flight finish for up to `drainMs`, then
   * closes whatever is left.
   */
  async close(drainMs = 0): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.unwatchUsers?.();
    for (const socket of this.handshaking.values()) socket.destroy();
    for (const session of this.sessions.keys()) session.drain();
    const all = Promise.all(this.sessions.values());
    if ((await withDeadline(all, drainMs)) === EXPIRED) {
      this.options.logger.warn({ event: 'drain', left: this.sessions.size }, 'drain timeout: closing the remaining connections');
      for (const session of this.sessions.keys()) session.destroy();
      await all;
    }
    if (this.ownsRefusals) this.refusals.close();
    await closed;
  }
}
