/**
 * The ops HTTP server: /metrics (Prometheus text of the whole service),
 * /healthz (the process lives) and /readyz (it can serve: workers listen and
 * storage is writable; 503 while starting or draining), and the single-file client
 * for download when this build has one (client-download.ts).
 *
 * It may face the same LAN as the file service, so a stranger must not hold it
 * up: requests and their headers have deadlines, connections are capped, and
 * /metrics (which tells how busy the server is and who fails to log in) can ask
 * for a bearer token. The health endpoints stay open for load balancers.
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { settingName } from '../config/schema.js';
import { ferryError } from '../protocol/errors.js';
import type { ClientDownload } from './client-download.js';

export interface Readiness {
  ready: boolean;
  reason: string;
}

export interface OpsHandlers {
  metrics(): Promise<string>;
  readiness(): Promise<Readiness>;
  clientDownload?: ClientDownload | undefined;
}

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';
const JAVASCRIPT = 'text/javascript; charset=utf-8';
/** A client has this long to send its request headers, and this long for the whole request. */
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** An idle keep-alive connection is closed after this long. */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** How often the deadlines above are checked. */
const DEADLINE_CHECK_MS = 1_000;
/** Connections served at once; scrapers and probes need a handful. */
const MAX_CONNECTIONS = 64;

export interface OpsOptions {
  /** Bearer token /metrics requires; empty or absent leaves it open. */
  metricsToken?: string;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export class OpsServer {
  private readonly server: Server;
  private readonly tokenDigest: Buffer | undefined;

  constructor(
    private readonly handlers: OpsHandlers,
    private readonly logger: Logger,
    options: OpsOptions = {},
  ) {
    // Compared as digests, so the comparison takes the same time whatever the length.
    this.tokenDigest = options.metricsToken ? digest(options.metricsToken) : undefined;
    const limits = {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      connectionsCheckingInterval: DEADLINE_CHECK_MS,
    };
    this.server = createServer(limits, (request, response) => {
      const path = (request.url ?? '/').split('?')[0] ?? '/';
      const answer =
        path === '/metrics' && !this.authorized(request.headers.authorization)
          ? Promise.resolve({ status: 401, type: 'text/plain', body: `send the ops token: Authorization: Bearer <${settingName('ops.token')}>\n`, challenge: true })
          : this.route(request.method ?? 'GET', path);
      void answer.then(
        ({ status, type, body, challenge }) => {
          response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...(challenge ? { 'www-authenticate': 'Bearer' } : {}) });
          response.end(request.method === 'HEAD' ? undefined : body);
        },
        (error: unknown) => {
          this.logger.error({ err: error }, 'ops request failed');
          response.writeHead(500, { 'content-type': 'text/plain' });
          response.end('internal error\n');
        },
      );
    });
    this.server.maxConnections = MAX_CONNECTIONS;
  }

  private authorized(header: string | undefined): boolean {
    if (this.tokenDigest === undefined) return true;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    return match !== null && timingSafeEqual(digest(match[1] as string), this.tokenDigest);
  }

  private async route(method: string, path: string): Promise<{ status: number; type: string; body: string | Buffer; challenge?: boolean }> {
    if (method !== 'GET' && method !== 'HEAD') return { status: 405, type: 'text/plain', body: 'use GET\n' };
    const client = this.handlers.clientDownload;
    if (client !== undefined && path === client.path) return { status: 200, type: JAVASCRIPT, body: client.body };
    switch (path) {
      case '/metrics':
        return { status: 200, type: PROMETHEUS_TEXT, body: await this.handlers.metrics() };
      case '/healthz':
        return { status: 200, type: 'text/plain', body: 'ok\n' };
      case '/readyz': {
        const { ready, reason } = await this.handlers.readiness();
        return { status: ready ? 200 : 503, type: 'text/plain', body: `${reason}\n` };
      }
      default:
        return { status: 404, type: 'text/plain', body: 'not found: try /metrics, /healthz or /readyz\n' };
    }
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    this.server.listen({ host, port });
    try {
      await once(this.server, 'listening'); // Rejects with the listen error, if there is one.
    } catch (error) {
      throw ferryError('CONFIG', `cannot listen for ops HTTP on ${host}:${port}: ${(error as Error).message}; set ${settingName('ops.port')} to a free port`, error);
    }
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
