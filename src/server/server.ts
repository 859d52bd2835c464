/**
 * The listener: accepts connections, enforces the connection limits, runs one
 * Session per connection and drains them on close. Knows nothing of the process
 * model, so a cluster worker runs the same server as a single process does.
 */

import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { once } from 'node:events';
import { EXPIRED, withDeadline } from '../io/deadline.js';
import { ferryError, systemErrorCode } from '../protocol/errors.js';
import { FrameType, encodeJsonFrame } from '../protocol/frames.js';
import { Session, type SessionContext } from './session.js';

export interface ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerIp: number;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

export interface FerryServerOptions extends SessionContext {
  host: string;
  port: number;
  connectionLimits: ConnectionLimits;
  /** Serve TLS with this certificate and key; plain TCP without. */
  tls?: TlsMaterial;
}

export class FerryServer {
  private readonly server: Server;
  private readonly sessions = new Map<Session, Promise<void>>();
  private readonly perIp = new Map<string, number>();

  constructor(private readonly options: FerryServerOptions) {
    const accept = (socket: Socket): void => this.accept(socket);
    if (options.tls) {
      const secure = createTlsServer(
        { cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2', noDelay: true, handshakeTimeout: options.limits.authTimeoutMs },
        accept,
      );
      // A plain client, a scanner or a client that distrusts us: nothing to serve.
      secure.on('tlsClientError', (error, socket) => {
        options.logger.debug({ event: 'tls-error', remote: socket.remoteAddress, err: error.message }, 'TLS handshake failed');
      });
      this.server = secure;
    } else {
      this.server = createServer({ noDelay: true }, accept);
    }
  }

  get connections(): number {
    return this.sessions.size;
  }

  async listen(): Promise<AddressInfo> {
    this.server.listen({ host: this.options.host, port: this.options.port });
    try {
      await once(this.server, 'listening'); // Rejects with the listen error, if there is one.
    } catch (error) {
      const hint = systemErrorCode(error) === 'EADDRINUSE' ? `; another program (or Ferry) already uses port ${this.options.port}: stop it or set FERRY_PORT` : '';
      throw ferryError('USAGE', `cannot listen on ${this.options.host}:${this.options.port}: ${(error as Error).message}${hint}`, error);
    }
    // Only now: a failure to listen is the start's own error, reported once by whoever started us.
    this.server.on('error', (error) => this.options.logger.error({ err: error }, 'listener error'));
    return this.server.address() as AddressInfo;
  }

  private accept(socket: Socket): void {
    const ip = socket.remoteAddress ?? '?';
    const fromIp = this.perIp.get(ip) ?? 0;
    const { maxConnections, maxConnectionsPerIp } = this.options.connectionLimits;
    if (this.sessions.size >= maxConnections || fromIp >= maxConnectionsPerIp) {
      const why = this.sessions.size >= maxConnections ? `${maxConnections} connections` : `${maxConnectionsPerIp} connections from ${ip}`;
      this.options.logger.warn({ event: 'busy', remote: ip }, `refused a connection: at the limit of ${why}`);
      socket.on('error', () => undefined);
      socket.end(encodeJsonFrame(FrameType.ERROR, 0, { code: 'BUSY', message: `the server is at its limit of ${why}; try again shortly` }));
      return;
    }
    this.perIp.set(ip, fromIp + 1);
    this.options.observer.connectionOpened();
    socket.on('error', () => undefined); // The session sees the failure through its reads.
    const session = new Session(socket, this.options);
    const done = session.run().finally(() => {
      this.sessions.delete(session);
      const left = (this.perIp.get(ip) ?? 1) - 1;
      if (left > 0) this.perIp.set(ip, left);
      else this.perIp.delete(ip);
      this.options.observer.connectionClosed();
    });
    this.sessions.set(session, done);
  }

  /**
   * Stops accepting, lets requests in flight finish for up to `drainMs`, then
   * closes whatever is left.
   */
  async close(drainMs = 0): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const session of this.sessions.keys()) session.drain();
    const all = Promise.all(this.sessions.values());
    if ((await withDeadline(all, drainMs)) === EXPIRED) {
      this.options.logger.warn({ event: 'drain', left: this.sessions.size }, 'drain timeout: closing the remaining connections');
      for (const session of this.sessions.keys()) session.destroy();
      await all;
    }
    await closed;
  }
}
