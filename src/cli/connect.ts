/**
 * From command-line options to a logged-in client: where the server is
 * (find-server.ts), how its certificate is trusted (certificate-trust.ts), who the
 * user is, where the password comes from, and retrying a refused or lost
 * connection with jittered exponential backoff (connect-retries.ts).
 */

import { FerryClient } from '../client/client.js';
import { FerryError } from '../protocol/errors.js';
import type { LoginResult } from '../protocol/messages.js';
import { askLine } from './ask.js';
import { tlsTrust } from './certificate-trust.js';
import { withRetries, worthRetrying, type RetryNotice } from './connect-retries.js';
import { resolveServer } from './find-server.js';
import { promptHidden, readStdin } from './password.js';
import { passwordFromCommand, passwordFromFile } from './password-sources.js';
import { formatServerAddress } from './server-address.js';
import { CLIENT_ENV, TLS_OFF } from './environment.js';

/**
 * What a command needs to reach a server and log in, from the command line, the
 * environment and a profile; the library's ConnectOptions (client/connect.ts) is the
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

/** Says once, on stderr, that a connection is not encrypted. */
function warnIfPlain(options: LoginOptions): void {
  if (options.plain && options.ca === undefined) {
    process.stderr.write(`ferry: warning: TLS is off (--no-tls or ${TLS_OFF}); the password and the files cross the network readable by anyone on it\n`);
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
