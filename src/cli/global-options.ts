/**
 * `ferry`'s global options and what they come to: the options in effect (typed,
 * else a saved server's, else the environment's), the connection options they ask
 * for, and the ones `config add` saves.
 */

import type { Command } from 'commander';
import { ferryError } from '../protocol/errors.js';
import type { TypedConnection } from './config-command.js';
import type { LoginOptions } from './connect.js';
import type { Output } from './output.js';
import type { ProfileOptions } from './profiles.js';
import { CLIENT_ENV, TLS_OFF } from './environment.js';

export interface GlobalOptions {
  server?: string;
  user?: string;
  passwordStdin?: boolean;
  passwordCommand?: string;
  tls?: boolean;
  fingerprint?: string;
  ca?: string;
  quiet?: boolean;
  verbose?: boolean;
  json?: boolean;
  progress: string;
  retries: string;
}

/** FERRY_TLS=false (TLS_OFF) turns TLS off here as it does on the server (an explicit --tls wins). */
function plainByEnvironment(): boolean {
  return ['false', '0', 'no', 'off'].includes((process.env[CLIENT_ENV.tls] ?? '').trim().toLowerCase());
}

function parseRetries(value: string): number {
  const retries = Number(value);
  if (!Number.isInteger(retries) || retries < 0) throw ferryError('USAGE', `--retries takes a whole number, not "${value}"`);
  return retries;
}

/** The connection options the global options ask for (refusing the combinations that contradict each other). */
export function connectionOptions(options: GlobalOptions, out: Output): LoginOptions {
  const plain = options.tls === false || (options.tls === undefined && plainByEnvironment());
  if (plain && (options.ca !== undefined || options.fingerprint !== undefined)) {
    throw ferryError('USAGE', `${options.ca !== undefined ? '--ca' : '--fingerprint'} checks a TLS certificate: it cannot go with --no-tls (or ${TLS_OFF})`);
  }
  if (options.ca !== undefined && options.fingerprint !== undefined) throw ferryError('USAGE', 'give either --ca or --fingerprint, not both');
  return {
    retries: parseRetries(options.retries),
    onRetry: ({ error, retry, retries, delayMs }) =>
      out.notice(`retry ${retry} of ${retries} in ${(delayMs / 1000).toFixed(1)} s: ${error.message}`),
    ...(options.server !== undefined ? { server: options.server } : {}),
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.passwordStdin ? { passwordStdin: true } : {}),
    ...(plain ? { plain: true } : {}),
    ...(options.fingerprint !== undefined ? { fingerprint: options.fingerprint } : {}),
    ...(options.passwordCommand !== undefined ? { passwordCommand: options.passwordCommand } : {}),
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
  };
}

/** The options in effect: typed on the command line, else the saved server's, else the environment's or defaults. */
export function withProfile(program: Command, options: GlobalOptions, profile: ProfileOptions | undefined): GlobalOptions {
  if (profile === undefined) return options;
  const merged: GlobalOptions = { ...options, server: profile.server };
  const typed = (key: keyof GlobalOptions): boolean => program.getOptionValueSource(key) === 'cli';
  const fill = <K extends keyof ProfileOptions & keyof GlobalOptions>(key: K): void => {
    const value = profile[key];
    if (value !== undefined && !typed(key)) (merged as unknown as Record<string, unknown>)[key] = value;
  };
  fill('user');
  fill('passwordCommand');
  // How the server is trusted is one choice (plain, a pinned fingerprint, a CA), made
  // whole by the command line, else by the profile: a FERRY_FINGERPRINT or FERRY_TLS
  // meant for another server must not mix with the profile's (or be refused beside it).
  // (A typed --tls only says TLS, which the profile's pin or CA still refines.)
  const typedChoice = typed('fingerprint') || typed('ca') || (typed('tls') && options.tls === false);
  if (!typedChoice && (profile.tls !== undefined || profile.fingerprint !== undefined || profile.ca !== undefined)) {
    delete merged.fingerprint;
    delete merged.ca;
    if (!typed('tls')) merged.tls = profile.tls ?? true;
    fill('fingerprint');
    fill('ca');
  }
  return merged;
}

/** The connection options typed on this command line, which `config add` saves. */
export function typedConnection(program: Command): TypedConnection {
  const options = program.opts<GlobalOptions>();
  const typed = (key: keyof TypedConnection & keyof GlobalOptions): boolean => program.getOptionValueSource(key) === 'cli' && options[key] !== undefined;
  return {
    ...(typed('server') ? { server: options.server as string } : {}),
    ...(typed('user') ? { user: options.user as string } : {}),
    ...(typed('fingerprint') ? { fingerprint: options.fingerprint as string } : {}),
    ...(typed('ca') ? { ca: options.ca as string } : {}),
    ...(typed('tls') ? { tls: options.tls as boolean } : {}),
    ...(typed('passwordCommand') ? { passwordCommand: options.passwordCommand as string } : {}),
  };
}
