/**
 * From command-line options to a logged-in client: where the server is, who the
 * user is, where the password comes from, and retrying a refused connection with
 * backoff.
 */

import { createInterface } from 'node:readline/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFile } from 'node:fs/promises';
import { FerryClient, type TlsTrust } from '../client/client.js';
import { KnownHosts, defaultKnownHostsFile } from '../client/known-hosts.js';
import { discoverServers, type DiscoveredServer } from '../lan/mdns.js';
import { FerryError, ferryError, systemErrorCode } from '../protocol/errors.js';
import type { LoginResult } from '../protocol/messages.js';
import { promptHidden, readStdin } from './password.js';
import { passwordFromCommand, passwordFromFile } from './password-sources.js';
import { formatServerAddress, parseServerAddress } from './server-address.js';

export interface ConnectionOptions {
  server?: string;
  user?: string;
  passwordStdin?: boolean;
  /** A command whose output is the password (password-sources.ts). */
  passwordCommand?: string;
  retries: number;
  /** Speak TLS, pinning the server's certificate on first use... */
  tls?: boolean;
  /** ...or verifying it against this CA certificate file (implies TLS). */
  ca?: string;
}

/** How the server's certificate is trusted, or undefined for plain TCP. */
export async function tlsTrust(options: ConnectionOptions, extra: { replace?: boolean } = {}): Promise<TlsTrust | undefined> {
  if (options.ca !== undefined) {
    const ca = await readFile(options.ca).catch((error: unknown) => {
      throw ferryError('USAGE', `cannot read the CA certificate ${options.ca}: ${(error as Error).message}`, error);
    });
    return { kind: 'ca', ca };
  }
  if (!options.tls) return undefined;
  const knownHosts = new KnownHosts(defaultKnownHostsFile());
  return {
    kind: 'pin',
    knownHosts,
    ...(extra.replace ? { replace: true } : {}),
    onFirstUse: (server, fingerprint) =>
      process.stderr.write(
        `ferry: first TLS connection to ${server}; trusting its certificate SHA256 ${fingerprint} from now on ` +
          `(recorded in ${knownHosts.file}; compare it with the fingerprint in the server's log)\n`,
      ),
  };
}

const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 4000;

function worthRetrying(error: unknown): boolean {
  if (!(error instanceof FerryError)) return false;
  if (error.code === 'BUSY' || error.code === 'CONNECTION_LOST' || error.code === 'STORAGE_UNAVAILABLE') return true;
  // Not a connect timeout: a server whose packets are dropped drops them again, and
  // each try would add the whole timeout to the wait.
  return error.code === 'CONNECT_FAILED' && ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH'].includes(systemErrorCode(error.cause) ?? '');
}

/** Calls `attempt` until it succeeds or `retries` more tries failed, backing off between them. */
export async function withRetries<T>(retries: number, attempt: () => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (tries >= retries || !worthRetrying(error)) throw error;
      await sleep(Math.min(FIRST_BACKOFF_MS * 2 ** tries, MAX_BACKOFF_MS));
    }
  }
}

async function askLine(question: string): Promise<string> {
  if (!process.stdin.isTTY) throw ferryError('USAGE', 'no user given: use -u NAME or FERRY_USER');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

export async function resolveUser(options: ConnectionOptions): Promise<string> {
  return options.user ?? process.env.FERRY_USER ?? (await askLine('User: '));
}

/** As ssh does, a password typed at the prompt may be typed again, three tries in all. */
const PASSWORD_TRIES = 3;

function mayAskAgain(options: ConnectionOptions, error: unknown, tries: number): boolean {
  const typed = !options.passwordStdin && options.passwordCommand === undefined && process.env.FERRY_PASSWORD === undefined && process.env.FERRY_PASSWORD_FILE === undefined;
  return typed && tries < PASSWORD_TRIES && error instanceof FerryError && error.code === 'AUTH_FAILED';
}

export async function resolvePassword(options: ConnectionOptions, user: string): Promise<string> {
  if (options.passwordStdin) return readStdin();
  if (options.passwordCommand !== undefined) return passwordFromCommand(options.passwordCommand);
  if (process.env.FERRY_PASSWORD !== undefined) return process.env.FERRY_PASSWORD;
  if (process.env.FERRY_PASSWORD_FILE !== undefined) return passwordFromFile(process.env.FERRY_PASSWORD_FILE);
  return promptHidden(`Password for ${user}: `);
}

const AUTO_DISCOVERY_MS = 2_000;

export function serverOf(options: ConnectionOptions) {
  return parseServerAddress(options.server ?? process.env.FERRY_SERVER ?? 'localhost');
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
 * (asking on a terminal when there are several). A server that announces TLS is
 * spoken to over TLS, pinned on first use.
 */
export async function resolveServer(options: ConnectionOptions): Promise<{ host: string; port: number; options: ConnectionOptions }> {
  const wanted = options.server ?? process.env.FERRY_SERVER;
  if (wanted?.trim().toLowerCase() !== 'auto') return { ...serverOf(options), options };
  const servers = await discoverServers(AUTO_DISCOVERY_MS);
  if (servers.length === 0) {
    throw ferryError('CONNECT_FAILED', 'no Ferry server answered on this network (mDNS); give its address with -s HOST[:PORT], or run "ferry doctor -s HOST" to see why it is not found');
  }
  const server = servers.length === 1 ? (servers[0] as DiscoveredServer) : await choose(servers);
  const host = server.addresses[0] ?? server.host;
  return { host, port: server.port, options: server.tls && options.ca === undefined ? { ...options, tls: true } : options };
}

/**
 * A logged-in connection that can be re-established: the credentials are asked
 * for once, and a lost connection is replaced (with backoff) up to `retries` times.
 */
export class Connection {
  private constructor(
    private current: FerryClient,
    readonly login: LoginResult,
    readonly server: string,
    readonly retries: number,
    private readonly reopen: () => Promise<{ client: FerryClient; login: LoginResult }>,
  ) {}

  static async open(options: ConnectionOptions): Promise<Connection> {
    const { host, port, options: effective } = await resolveServer(options);
    const trust = await tlsTrust(effective);
    const address = { host, port, ...(trust ? { tls: trust } : {}) };
    const user = await resolveUser(options);
    let password = await resolvePassword(options, user);
    // One attempt is connect and log in: a server that is restarting may drop a
    // connection between the two, and that is worth another try too.
    const reopen = async (): Promise<{ client: FerryClient; login: LoginResult }> => {
      const client = await FerryClient.connect(address);
      try {
        return { client, login: await client.login(user, password) };
      } catch (error) {
        client.close();
        throw error;
      }
    };
    for (let tries = 1; ; tries++) {
      try {
        const { client, login } = await withRetries(options.retries, reopen);
        return new Connection(client, login, formatServerAddress(address), options.retries, reopen);
      } catch (error) {
        if (!mayAskAgain(options, error, tries)) throw error;
        process.stderr.write(`ferry: ${(error as FerryError).message}; try again\n`);
        password = await promptHidden(`Password for ${user}: `);
      }
    }
  }

  get client(): FerryClient {
    return this.current;
  }

  async reconnect(): Promise<FerryClient> {
    this.current.close();
    this.current = (await withRetries(this.retries, this.reopen)).client;
    return this.current;
  }

  /** Runs `work`, reconnecting and running it again when the connection is lost. */
  async recovering<T>(work: (client: FerryClient) => Promise<T>): Promise<T> {
    for (let tries = 0; ; tries++) {
      try {
        return await work(this.current);
      } catch (error) {
        if (!isLost(error) || tries >= this.retries) throw error;
        await this.reconnect();
      }
    }
  }

  /** Stops whatever runs on the connection now; the next command needs reconnect(). */
  cancel(): void {
    this.current.cancel();
  }

  async close(): Promise<void> {
    await this.current.quit();
  }
}

export function isLost(error: unknown): boolean {
  return error instanceof FerryError && error.code === 'CONNECTION_LOST';
}
