/**
 * The web client's HTTPS listener: a page for phones and browsers, the JSON routes
 * behind it and tus uploads. It shares with the TCP file service the users file,
 * the login book (one count of failures and bans for both doors), the connection
 * limits (raw connections are counted before their TLS handshake), the storage and
 * the metrics. Like the TCP server it knows nothing of the process model: each
 * cluster worker runs one on the shared port. Its options: options.ts; the page's
 * files and the headers on every answer: page.ts.
 */

import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { sourceKey } from '../auth/source.js';
import { credentialOf, type User } from '../auth/users.js';
import { EXPIRED, withDeadline } from '../io/deadline.js';
import { settingAssignment, settingName } from '../config/schema.js';
import { type FerryError, asFerryError, ferryError, systemErrorCode } from '../protocol/errors.js';
import { formatRemotePath, parseRemotePath } from '../protocol/paths.js';
import { RefusalLog } from '../log/refusal-log.js';
import { auditLogin } from '../server/audit.js';
import { authenticate, openHome, revocation } from '../server/authenticate.js';
import { endpoint } from '../server/server.js';
import { fileRoutes } from './files-routes.js';
import type { WebServerOptions } from './options.js';
import { ASSETS, ASSETS_DIR, CONTENT_TYPES, SECURITY_HEADERS } from './page.js';
import type { WebRequest } from './request.js';
import { readJson, sendError, sendJson, stringField } from './replies.js';
import { CSRF_HEADER, SESSION_COOKIE, SessionSeal, clearedCookie, cookieValue, type WebSession } from './session-seal.js';
import { TUS_PATH, TusUploads } from './tus.js';

/** A client must have sent its request's headers within this long. */
const HEADERS_TIMEOUT_MS = 10_000;
const HEADERS_CHECK_INTERVAL_MS = 1_000;

/** A request being served for a logged-in user: ended at once if that user is revoked. */
interface LiveRequest {
  session: WebSession;
  socket: Socket;
}

export class WebServer {
  private readonly raw: Server;
  private readonly https: HttpsServer;
  private readonly seal: SessionSeal;
  private readonly tus = new TusUploads();
  private readonly live = new Set<LiveRequest>();
  /** Every raw connection, from accept to close, including those still in their TLS handshake. */
  private readonly sockets = new Set<Socket>();
  /** Requests being answered, by connection (the raw and the TLS socket share the remote end). */
  private readonly busy = new Map<string, number>();
  private draining = false;
  /** Called when the last raw socket has closed during a drain. */
  private emptied: (() => void) | undefined;
  private readonly refusals: RefusalLog;
  private readonly ownsRefusals: boolean;
  private assets = new Map<string, Buffer>();
  private unwatchUsers: (() => void) | undefined;

  constructor(private readonly options: WebServerOptions) {
    this.seal = new SessionSeal(options.tls.key, options.sessionLifetimeMs);
    this.ownsRefusals = options.refusals === undefined;
    this.refusals = options.refusals ?? new RefusalLog(options.logger, options.limits.authLogIntervalMs);
    this.https = createHttpsServer(
      {
        cert: options.tls.cert,
        key: options.tls.key,
        minVersion: 'TLSv1.2',
        handshakeTimeout: options.limits.handshakeTimeoutMs,
        // How often Node looks for connections past the headers timeout.
        connectionsCheckingInterval: HEADERS_CHECK_INTERVAL_MS,
      },
      (req, res) => void this.handle(req, res),
    );
    // Uploads of large files over slow Wi-Fi take long: only silence ends a request.
    this.https.requestTimeout = 0;
    this.https.headersTimeout = HEADERS_TIMEOUT_MS;
    this.https.timeout = options.limits.idleTimeoutMs;
    this.https.keepAliveTimeout = 5_000;
    // Counted as the file service counts its connections: once the TLS handshake is done.
    this.https.on('secureConnection', (socket: Socket) => {
      options.observer.connectionOpened();
      socket.once('close', () => options.observer.connectionClosed());
    });
    this.https.on('tlsClientError', (error, socket) => {
      options.logger.debug({ event: 'web-tls-error', remote: socket.remoteAddress, err: error.message }, 'web TLS handshake failed');
      socket.destroy();
    });
    this.raw = createServer({ noDelay: true }, (socket) => void this.accept(socket));
  }

  async listen(): Promise<AddressInfo> {
    for (const file of new Set(Object.values(ASSETS))) this.assets.set(file, await readFile(join(ASSETS_DIR, file)));
    this.raw.listen({ host: this.options.host, port: this.options.port });
    try {
      await once(this.raw, 'listening');
    } catch (error) {
      const hint = systemErrorCode(error) === 'EADDRINUSE' ? `; another program already uses port ${this.options.port}: stop it, set ${settingName('web.port')}, or ${settingAssignment('web.enabled', 'false')}` : '';
      throw ferryError('CONFIG', `cannot listen on ${this.options.host}:${this.options.port} for the web client: ${(error as Error).message}${hint}`, error);
    }
    this.raw.on('error', (error) => this.options.logger.error({ err: error }, 'web listener error'));
    // The HTTPS server is fed sockets by hand and never listens itself, but Node starts
    // its connection tracking (the headers timeout, closing idle keep-alive
    // connections) only when a server says it listens.
    this.https.emit('listening');
    this.unwatchUsers = this.options.users.watch(() => {
      for (const request of this.live) if (this.revocation(request.session)) request.socket.destroy();
    });
    return this.raw.address() as AddressInfo;
  }

  /** Counts a raw connection with the file service's before it may cost a handshake. */
  private async accept(socket: Socket): Promise<void> {
    socket.on('error', () => undefined);
    const source = sourceKey(socket.remoteAddress ?? '?');
    const refusal = await this.options.gate.admit(source).catch(() => 'none available');
    if (refusal !== undefined) {
      this.refusals.note(source, 'busy');
      socket.destroy();
      return;
    }
    socket.once('close', () => {
      this.options.gate.release(source);
      this.sockets.delete(socket);
      if (this.sockets.size === 0) this.emptied?.();
    });
    if (socket.destroyed) return;
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    this.https.emit('connection', socket);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // While draining, a connection closes after the answer it is giving.
    if (this.draining) res.setHeader('Connection', 'close');
    const end = endpoint(req.socket);
    this.busy.set(end, (this.busy.get(end) ?? 0) + 1);
    res.once('close', () => {
      const left = (this.busy.get(end) ?? 1) - 1;
      if (left > 0) this.busy.set(end, left);
      else this.busy.delete(end);
      if (this.draining) setImmediate(() => this.closeUnserved());
    });
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    try {
      const url = new URL(req.url ?? '/', 'https://ferry.invalid');
      const asset = ASSETS[url.pathname];
      if (asset !== undefined && (req.method === 'GET' || req.method === 'HEAD')) return this.sendAsset(res, asset);
      if (url.pathname === '/api/login' && req.method === 'POST') return await this.login(req, res);
      const session = this.seal.open(cookieValue(req.headers.cookie, SESSION_COOKIE));
      if (!session) throw ferryError('AUTH_REQUIRED', 'log in first (the web session is missing, ended or expired)');
      const revoked = this.revocation(session);
      if (revoked) {
        sendError(res, revoked, { 'Set-Cookie': clearedCookie() });
        return;
      }
      const changes = !['GET', 'HEAD', 'OPTIONS'].includes(req.method ?? '');
      if (changes && !this.seal.checkCsrf(session, header(req, CSRF_HEADER))) {
        throw ferryError('PERMISSION_DENIED', `the request lacks the CSRF token header ${CSRF_HEADER}; reload the page`);
      }
      const user = this.options.users.current(session.user) as User;
      if (url.pathname === '/api/session' && req.method === 'GET') {
        sendJson(res, 200, this.describe(user, session));
        return;
      }
      if (url.pathname === '/api/logout' && req.method === 'POST') {
        this.seal.forget(session.id, session.expires);
        this.options.loggedOut?.(session.id, session.expires);
        sendJson(res, 200, {}, { 'Set-Cookie': clearedCookie() });
        return;
      }
      await this.serveUser(req, res, url, user, session);
    } catch (error) {
      const failure = asFerryError(error);
      if (failure.code === 'INTERNAL') this.options.logger.error({ err: error, remote: req.socket.remoteAddress }, 'web request failed');
      if (failure.code === 'CONNECTION_LOST' || req.socket.destroyed) {
        res.destroy();
        return;
      }
      sendError(res, failure);
      // A refused upload's body is not read: close rather than drain it.
      if (!req.complete) res.once('finish', () => req.socket.destroy());
    }
  }

  private async serveUser(req: IncomingMessage, res: ServerResponse, url: URL, user: User, session: WebSession): Promise<void> {
    const live: LiveRequest = { session, socket: req.socket };
    this.live.add(live);
    try {
      const r: WebRequest = {
        req,
        res,
        url,
        user,
        // The same view of the store as the file service gives: bounded by the quota and the entry limit.
        home: await openHome(this.options.storage, user, this.options.limits),
        maxFileSize: this.options.limits.maxFileSize,
        observer: this.options.observer,
        logger: this.options.logger,
        remote: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`,
      };
      if (url.pathname === TUS_PATH || url.pathname.startsWith(`${TUS_PATH}/`)) {
        await this.tus.handle(r, url.pathname.slice(TUS_PATH.length + 1));
        return;
      }
      const route = url.pathname.startsWith('/api/') ? fileRoutes[`${req.method ?? ''} ${url.pathname.slice('/api/'.length)}`] : undefined;
      if (!route) throw ferryError('NOT_FOUND', `no such page or route: ${req.method ?? ''} ${url.pathname}`);
      await route(r);
    } finally {
      this.live.delete(live);
    }
  }

  private describe(user: User, session: WebSession): Record<string, unknown> {
    return { user: user.name, home: formatRemotePath(parseRemotePath(user.home)), permissions: user.permissions, csrf: this.seal.csrfToken(session) };
  }

  /** Why a session has ended, if it has: its user removed or their password changed. */
  private revocation(session: WebSession): FerryError | undefined {
    return revocation(this.options.users, session.user, session.credential);
  }

  /** The same login as the TCP door: counted in the one book before the password check, refusals delayed alike. */
  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req);
    const name = stringField(body, 'user');
    const password = stringField(body, 'password');
    const source = sourceKey(req.socket.remoteAddress ?? '?');
    const books = { ...this.options, refusals: this.refusals, failureDelayMs: this.options.limits.authFailureDelayMs };
    const outcome = await authenticate(books, source, name, password);
    if ('refused' in outcome) throw outcome.refused;
    const { user } = outcome;
    const { token, session } = this.seal.issue(user.name, credentialOf(user));
    auditLogin(this.options.logger, { user: user.name, remote: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}` });
    sendJson(res, 200, this.describe(user, session), { 'Set-Cookie': `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; Secure; SameSite=Strict` });
  }

  private sendAsset(res: ServerResponse, file: string): void {
    const body = this.assets.get(file) as Buffer;
    res.writeHead(200, { 'Content-Type': CONTENT_TYPES[file.split('.').pop() ?? ''] ?? 'application/octet-stream', 'Content-Length': body.length, 'Cache-Control': 'no-cache' });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  /** Refuses a session logged out elsewhere. */
  forget(session: string, expires: number): void {
    this.seal.forget(session, expires);
  }

  /** Ends the connections no request is being answered on: idle keep-alives, handshakes, slow headers. */
  private closeUnserved(): void {
    this.https.closeIdleConnections();
    for (const socket of this.sockets) if (!this.busy.has(endpoint(socket))) socket.destroy();
  }

  /**
   * Stops accepting; idle connections close at once, requests in flight get up to
   * `drainMs`, then every connection left (handshakes and slow headers included) is
   * destroyed. Waits for the raw sockets rather than for https.close(), which never
   * listened and so calls back at once.
   */
  async close(drainMs = 0): Promise<void> {
    this.unwatchUsers?.();
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.raw.close(() => resolve()));
    const served = new Promise<void>((resolve) => {
      this.emptied = resolve;
      if (this.sockets.size === 0) resolve();
    });
    this.closeUnserved();
    if ((await withDeadline(served, drainMs)) === EXPIRED) {
      this.https.closeAllConnections();
      for (const socket of this.sockets) socket.destroy();
      await served;
    }
    this.https.close();
    await closed;
    if (this.ownsRefusals) this.refusals.close();
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
