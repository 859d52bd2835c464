/**
 * A real Ferry service with its web client for tests: started in-process the way
 * `ferry-server start` does (startService with a loaded config), the TCP service on
 * 127.0.0.1:0 and the HTTPS web client on its own 127.0.0.1:0, its own data folder,
 * a self-made certificate and the users file it creates. Plus a small HTTPS client
 * that keeps the session cookie and CSRF token as a browser page would.
 */

import type { ExecutionContext } from 'ava';
import { X509Certificate, createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import { ALL_PERMISSIONS, UserDirectory } from '../../src/auth/users.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger, silentLogger } from '../../src/log/logger.js';
import { Writable } from 'node:stream';
import type { Permission } from '../../src/protocol/messages.js';
import { startService, type RunningService } from '../../src/app/service.js';
import type { SessionObserver } from '../../src/server/session.js';
import { tempDir } from './files.js';

export const WEB_ADMIN = { user: 'admin', password: 'web-admin-password' };

export interface WebTestServer {
  service: RunningService;
  /** https://127.0.0.1:PORT */
  origin: string;
  webPort: number;
  dataDir: string;
  /** Where the admin's home lies on disk. */
  filesDir: string;
  users: UserDirectory;
  /** base64 SHA-256 of the certificate's public key, for Chromium's SPKI pin flag. */
  spki: string;
  addUser(name: string, password: string, permissions?: Permission[]): Promise<void>;
}

export async function startWebServer(
  t: ExecutionContext,
  env: Record<string, string> = {},
  observer?: SessionObserver,
  /** Receives every log line, parsed; without it the service logs nothing. */
  logLines?: Record<string, unknown>[],
): Promise<WebTestServer> {
  const dataDir = await tempDir(t, 'ferry-web-');
  const config = loadConfig({
    cwd: dataDir,
    env: {
      FERRY_DATA_DIR: dataDir,
      FERRY_HOST: '127.0.0.1',
      FERRY_PORT: '0',
      FERRY_WEB_HOST: '127.0.0.1',
      FERRY_WEB_PORT: '0',
      FERRY_MDNS: 'false',
      FERRY_ADMIN_PASSWORD: WEB_ADMIN.password,
      FERRY_AUTH_FAILURE_DELAY: '0',
      FERRY_DRAIN_TIMEOUT: '0',
      ...env,
    },
  });
  const logger = logLines ? createLogger('info', 'json', new Writable({ write: (chunk: Buffer, _encoding, done) => (logLines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) })) : silentLogger();
  const service = await startService(config, logger, observer ? { observer } : {});
  t.teardown(() => service.stop());
  if (service.webPort === undefined) throw new Error('the web client did not start');
  const cert = new X509Certificate(await readFile(join(dataDir, 'tls', 'cert.pem')));
  const spki = createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  const users = new UserDirectory(config.get('usersFile'));
  await users.load();
  return {
    service,
    origin: `https://127.0.0.1:${service.webPort}`,
    webPort: service.webPort,
    dataDir,
    filesDir: join(dataDir, 'files'),
    users,
    spki,
    async addUser(name, password, permissions = ALL_PERMISSIONS) {
      await users.add(name, password, { home: `/${name}`, permissions });
    },
  };
}

export interface WebResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json(): Record<string, unknown>;
}

/** One HTTPS request to the test server (its certificate is the test's own: not verified here). */
export function webRequest(
  origin: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<WebResponse> {
  const url = new URL(path, origin);
  const settings: RequestOptions = { method, headers: options.headers ?? {}, rejectUnauthorized: false, agent: false };
  return new Promise((resolve, reject) => {
    const req = request(url, settings, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) as Record<string, unknown> });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A logged-in web session: its cookie and CSRF token, sent as the page sends them. */
export interface WebSessionClient {
  cookie: string;
  csrf: string;
  /** The Set-Cookie header of the login answer. */
  setCookie: string;
  call(method: string, path: string, options?: { headers?: Record<string, string>; body?: Buffer | string; json?: unknown; csrf?: boolean }): Promise<WebResponse>;
}

export async function webLogin(origin: string, credentials: { user: string; password: string } = WEB_ADMIN): Promise<WebSessionClient> {
  const answer = await webRequest(origin, 'POST', '/api/login', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(credentials) });
  if (answer.status !== 200) throw new Error(`login failed: ${answer.status} ${answer.body.toString()}`);
  const setCookie = String((answer.headers['set-cookie'] as string[])[0]);
  const cookie = setCookie.split(';')[0] as string;
  const csrf = String(answer.json().csrf);
  return {
    cookie,
    csrf,
    setCookie,
    call(method, path, options = {}) {
      const headers: Record<string, string> = { Cookie: cookie, ...options.headers };
      if (options.csrf !== false) headers['X-CSRF-Token'] = csrf;
      let body = options.body;
      if (options.json !== undefined) {
        headers['Content-Type'] = 'application/json';
        body = JSON.stringify(options.json);
      }
      return webRequest(origin, method, path, { headers, ...(body === undefined ? {} : { body }) });
    },
  };
}
