/**
 * The ops HTTP server: /metrics (Prometheus text of the whole service),
 * /healthz (the process lives) and /readyz (it can serve: workers listen and
 * storage is writable; 503 while starting or draining), and the single-file client
 * for download when this build has one (client-download.ts).
 */

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
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

export class OpsServer {
  private readonly server: Server;

  constructor(
    private readonly handlers: OpsHandlers,
    private readonly logger: Logger,
  ) {
    this.server = createServer((request, response) => {
      void this.route(request.method ?? 'GET', (request.url ?? '/').split('?')[0] ?? '/').then(
        ({ status, type, body }) => {
          response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
          response.end(request.method === 'HEAD' ? undefined : body);
        },
        (error: unknown) => {
          this.logger.error({ err: error }, 'ops request failed');
          response.writeHead(500, { 'content-type': 'text/plain' });
          response.end('internal error\n');
        },
      );
    });
  }

  private async route(method: string, path: string): Promise<{ status: number; type: string; body: string | Buffer }> {
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
      throw ferryError('USAGE', `cannot listen for ops HTTP on ${host}:${port}: ${(error as Error).message}; set FERRY_OPS_PORT to a free port`, error);
    }
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
