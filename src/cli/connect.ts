/**
 * From command-line options to a logged-in client: where the server is, who the
 * user is, where the password comes from, and retrying a refused or lost
 * connection with jittered exponential backoff.
 */

import { createInterface } from 'node:readline/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFile } from 'node:fs/promises';
import { FerryClient, serverLabel, type TlsTrust, type TrustQuestion } from '../client/client.js';
import { KnownHosts, defaultKnownHostsFile } from '../client/known-hosts.js';
import { retryDelayMs } from '../client/retry-policy.js';
import { discoverServers, type DiscoveredServer } from '../lan/mdns.js';
import { FerryError, ferryError, systemErrorCode } from '../protocol/errors.js';
import { parseFingerprint } from '../protocol/fingerprint.js';
import type { LoginResult } from '../protocol/messages.js';
import { promptHidden, readStdin } from './password.js';
import { passwordFromCommand, passwordFromFile } from './password-sources.js';
import { formatServerAddress, parseServerAddress } from './server-address.js';
import { CLIENT_ENV, TLS_OFF } from './environment.js';

/**
 * What a command needs to reach a server and log in, from the command line, the
 * environment and a profile; the library's ConnectOptions (client/client.ts) is the
 * socket part of it, resolved.
 */
export interface LoginOptions {
  server?: string;
  user?: string;
  passwordStdin?: boolean;
  /** A command whose output is the password (password-sources.ts). */
  passwordCommand?: string;
  /** Retries of a refused or lost connection, waiting as client/retry-policy.ts says. */
  retries: number;
  /** Told before each wait, so a person knows why the command pauses. */
  onRetry?: RetryNotice;
  /** Plain TCP instead of TLS (`--no-tls`, or FERRY_TLS=false): passwords and files cross the network readable. */
  plain?: boolean;
  /** Pin this certificate fingerprint (`--fingerprint`, or FERRY_FINGERPRINT)... */
  fingerprint?: string;
  /** ...or verify the certificate against this CA certificate file. */
  ca?: string;
  /** A fingerprint the server's mDNS record names (found by `-s auto`). */
  announced?: string;
  /**
   * Never pin a certificate not pinned yet (shell completion): nobody sees a question
   * or notice asked while TAB is pressed, so only existing pins, --fingerprint or --ca count.
   */
  noNewPins?: boolean;
}

/** How the server's certificate is trusted, or undefined for plain TCP. */
export async function tlsTrust(options: LoginOptions, extra: { replace?: boolean } = {}): Promise<TlsTrust | undefined> {
  if (options.ca !== undefined) {
    const ca = await readFile(options.ca).catch((error: unknown) => {
      throw ferryError('USAGE', `cannot read the CA certificate ${options.ca}: ${(error as Error).message}`, error);
    });
    return { kind: 'ca', ca };
  }
  if (options.plain) return undefined;
  const knownHosts = new KnownHosts(await defaultKnownHostsFile());
  const expected =
    options.fingerprint !== undefined
      ? { fingerprint: parseFingerprint(options.fingerprint), source: 'user' as const }
      : options.announced !== undefined
        ? { fingerprint: options.announced, source: 'mdns' as const }
        : undefined;
  return {
    kind: 'pin',
    knownHosts,
    ...(expected ? { expected } : {}),
    ...(extra.replace ? { replace: true } : {}),
    approve: options.noNewPins ? async () => false : (question) => approveCertificate(question, knownHosts.file),
  };
}

export type RetryNotice = (notice: { error: FerryError; retry: number; retries: number; delayMs: number }) => void;

/**
 * Asks, as ssh does, before a certificate is pinned. Without a terminal to ask on,
 * first use pins with a notice: a script cannot answer, and refusing would push
 * people to --no-tls, which is worse. A changed certificate only gets here through
 * `ferry trust`, which is itself the user's say-so.
 */
async function approveCertificate(question: TrustQuestion, file: string): Promise<boolean> {
  const { server, fingerprint, previous } = question;
  if (!process.stdin.isTTY) {
    const what = previous === undefined ? `first TLS connection to ${server}; trusting` : `replacing the pinned certificate of ${server} (was ${previous}); trusting`;
    process.stderr.write(
      `ferry: ${what} its certificate ${fingerprint} from now on ` +
        `(recorded in ${file}; compare it with the fingerprint in the server's log, or pass --fingerprint to check it up front)\n`,
    );
    return true;
  }
  const story =
    previous === undefined
      ? `The authenticity of ${server} cannot be established: this device has not talked to it before.\n`
      : `The certificate of ${server} changed: it was ${previous}.\n`;
  const answer = await askLine(
    `${story}Its certificate fingerprint is ${fingerprint}\n` +
      `Compare it with the fingerprint in the server's start-up log. Trust it from now on (yes/no)? `,
  );
  const yes = /^y(es)?$/i.test(answer);
  if (yes) process.stderr.write(`ferry: recorded ${server} in ${file}\n`);
  return yes;
}

/** Says once, on stderr, that a connection is not encrypted. */
export function warnIfPlain(options: LoginOptions): void {
  if (options.plain && options.ca === undefined) {
    process.stderr.write(`ferry: warning: TLS is off (--no-tls or ${TLS_OFF}); the password and the files cross the network readable by anyone on it\n`);
  }
}

function worthRetrying(error: unknown): boolean {
  if (!(error instanceof FerryError)) return false;
  if (error.code === 'BUSY' || error.code === 'CONNECTION_LOST' || error.code === 'STORAGE_UNAVAILABLE') return true;
  // Not a connect timeout: a server whose packets are dropped drops them again, and
  // each try would add the whole timeout to the wait.
  return error.code === 'CONNECT_FAILED' && ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH'].includes(systemErrorCode(error.cause) ?? '');
}

/** Calls `attempt` until it succeeds or `retries` more tries failed, backing off between them. */
export async function withRetries<T>(retries: number, attempt: () => Promise<T>, onRetry?: RetryNotice): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (tries >= retries || !worthRetrying(error)) throw error;
      const delayMs = retryDelayMs(tries);
      onRetry?.({ error: error as FerryError, retry: tries + 1, retries, delayMs });
      await sleep(delayMs);
    }
  }
}

async function askLine(question: string): Promise<string> {
  if (!process.stdin.isTTY) throw ferryError('USAGE', `no user given: use -u NAME or ${CLIENT_ENV.user}`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

export async function resolveUser(options: LoginOptions): Promise<string> {
  return options.user ?? process.env[CLIENT_ENV.user] ?? (await askLine('User: '));
}

/** As ssh does, a password typed at the prompt may be typed again, three tries in all. */
const PASSWORD_TRIES = 3;

function mayAskAgain(options: LoginOptions, error: unknown, tries: number): boolean {
  const typed = !options.passwordStdin && options.passwordCommand === undefined && process.env[CLIENT_ENV.password] === undefined && process.env[CLIENT_ENV.passwordFile] === undefined;
  return typed && tries < PASSWORD_TRIES && error instanceof FerryError && error.code === 'AUTH_FAILED';
}

export async function resolvePassword(options: LoginOptions, user: string): Promise<string> {
  if (options.passwordStdin) return readStdin();
  if (options.passwordCommand !== undefined) return passwordFromCommand(options.passwordCommand);
  const password = process.env[CLIENT_ENV.password];
  if (password !== undefined) return password;
  const passwordFile = process.env[CLIENT_ENV.passwordFile];
  if (passwordFile !== undefined) return passwordFromFile(passwordFile);
  return promptHidden(`Password for ${user}: `);
}

const AUTO_DISCOVERY_MS = 2_000;

export function serverOf(options: LoginOptions) {
  return parseServerAddress(options.server ?? process.env[CLIENT_ENV.server] ?? 'localhost');
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
 * (asking on a terminal when there are several). The record is unauthenticated:
 * it may add TLS and a fingerprint to check, never take TLS away from a server
 * this device has pinned.
 */
export async function resolveServer(options: LoginOptions): Promise<{ host: string; port: number; options: LoginOptions }> {
  const wanted = options.server ?? process.env[CLIENT_ENV.server];
  if (wanted?.trim().toLowerCase() !== 'auto') return { ...serverOf(options), options };
  const servers = await discoverServers(AUTO_DISCOVERY_MS);
  if (servers.length === 0) {
    throw ferryError('CONNECT_FAILED', 'no Ferry server answered on this network (mDNS); give its address with -s HOST[:PORT], or run "ferry doctor -s HOST" to see why it is not found');
  }
  const server = servers.length === 1 ? (servers[0] as DiscoveredServer) : await choose(servers);
  const host = server.addresses[0] ?? server.host;
  const found = { host, port: server.port };
  if (options.ca !== undefined) return { ...found, options };
  if (!server.tls) {
    const where = serverLabel(host, server.port);
    const pinned = await new KnownHosts(await defaultKnownHostsFile()).get(where);
    if (pinned !== undefined) {
      throw ferryError(
        'TLS_UNTRUSTED',
        `${where} announces itself on the network without TLS, but this device has talked to it over TLS (certificate ${pinned}). ` +
          `An announcement cannot turn TLS off: someone on the network may be impersonating it. Check the server; connect with -s ${where} to use TLS`,
      );
    }
    return { ...found, options };
  }
  return { ...found, options: { ...options, plain: false, ...(server.fingerprint ? { announced: server.fingerprint } : {}) } };
}

/** After a login that failed this way, a fresh connection may succeed (a slow password prompt outlived the server's login timeout). */
function worthReopening(error: unknown): boolean {
  return error instanceof FerryError && (error.code === 'CONNECTION_LOST' || error.code === 'TIMEOUT');
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
    private readonly onRetry: RetryNotice | undefined,
  ) {}

  static async open(options: LoginOptions): Promise<Connection> {
    const { host, port, options: effective } = await resolveServer(options);
    warnIfPlain(effective);
    const trust = await tlsTrust(effective);
    const address = { host, port, ...(trust ? { tls: trust } : {}) };
    // The server is reached (and its certificate trusted) before the password is
    // asked for, as ssh does: a password is never typed for a server not yet trusted.
    const first = await withRetries(options.retries, () => FerryClient.connect(address), options.onRetry);
    let user: string;
    let password: string;
    try {
      user = await resolveUser(options);
      password = await resolvePassword(options, user);
    } catch (error) {
      first.close();
      throw error;
    }
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
    const loginFirst = async (): Promise<{ client: FerryClient; login: LoginResult }> => {
      try {
        return { client: first, login: await first.login(user, password) };
      } catch (error) {
        first.close();
        // BUSY or STORAGE_UNAVAILABLE (a primary restarting) are retried here as on any reopen.
        if (!worthReopening(error) && !worthRetrying(error)) throw error;
        return withRetries(options.retries, reopen, options.onRetry);
      }
    };
    let attempt = loginFirst;
    for (let tries = 1; ; tries++) {
      try {
        const { client, login } = await attempt();
        return new Connection(client, login, formatServerAddress(address), options.retries, reopen, options.onRetry);
      } catch (error) {
        if (!mayAskAgain(options, error, tries)) throw error;
        process.stderr.write(`ferry: ${(error as FerryError).message}; try again\n`);
        password = await promptHidden(`Password for ${user}: `);
        attempt = () => withRetries(options.retries, reopen, options.onRetry);
      }
    }
  }

  get client(): FerryClient {
    return this.current;
  }

  async reconnect(): Promise<FerryClient> {
    this.current.close();
    this.current = (await withRetries(this.retries, this.reopen, this.onRetry)).client;
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
