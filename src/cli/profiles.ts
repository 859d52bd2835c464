/**
 * Saved servers: named profiles in the client's config file, so `ferry -s nas ls`
 * stands for the address, user and TLS trust saved under "nas". The file lives in
 * the platform's folder for settings:
 *   Linux and others  $XDG_CONFIG_HOME/ferry/config.json (default ~/.config/ferry/config.json)
 *   macOS             ~/Library/Application Support/ferry/config.json
 *   Windows           %APPDATA%\ferry\config.json
 *
 *   { "servers": { "nas": { "host": "192.168.1.20", "port": 8080, "user": "alice",
 *                           "fingerprint": "SHA256:...", "ca": "/path/ca.pem", "tls": false,
 *                           "passwordCommand": "pass show ferry/nas" } } }
 *
 * A profile is plain data: its fields become the values of the matching command
 * line options (-s, -u, --fingerprint, --ca, --no-tls, --password-command), and an
 * option given on the command line wins over the profile. Passwords are never
 * stored here; a profile may name a command that prints one.
 */

import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname } from 'node:path';
import { clientConfigFolder, pathsOf } from '../client/config-folder.js';
import { ferryError, systemErrorCode } from '../protocol/errors.js';
import { formatServerAddress } from './server-address.js';

export interface Profile {
  host: string;
  port?: number;
  user?: string;
  /** Pin this certificate fingerprint (as --fingerprint). */
  fingerprint?: string;
  /** Verify the certificate against this CA file (as --ca). */
  ca?: string;
  /** false: plain TCP (as --no-tls); true: TLS. */
  tls?: boolean;
  /** A command that prints the password (as --password-command). */
  passwordCommand?: string;
}

export interface ClientConfig {
  servers: Record<string, Profile>;
}

/** The option values a profile stands for, named as the command line's options. */
export interface ProfileOptions {
  server: string;
  user?: string;
  fingerprint?: string;
  ca?: string;
  tls?: boolean;
  passwordCommand?: string;
}

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function clientConfigFile(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home: string = homedir()): string {
  return pathsOf(platform).join(clientConfigFolder({ env, platform, home }), 'config.json');
}

export function checkProfileName(name: string): string {
  if (!PROFILE_NAME.test(name)) {
    throw ferryError('USAGE', `"${name}" cannot name a saved server: use letters, digits, ".", "_" and "-" (up to 64, starting with a letter or digit)`);
  }
  return name;
}

type Check = (value: unknown) => boolean;
const FIELDS: Record<keyof Profile, { check: Check; expect: string }> = {
  host: { check: (v) => typeof v === 'string' && v.trim() !== '', expect: 'a host name or address' },
  port: { check: (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535, expect: 'a port from 1 to 65535' },
  user: { check: (v) => typeof v === 'string' && v !== '', expect: 'a user name' },
  fingerprint: { check: (v) => typeof v === 'string' && v !== '', expect: 'a certificate fingerprint (SHA256:...)' },
  ca: { check: (v) => typeof v === 'string' && v !== '', expect: 'the path of a CA certificate file' },
  tls: { check: (v) => typeof v === 'boolean', expect: 'true or false' },
  passwordCommand: { check: (v) => typeof v === 'string' && v !== '', expect: 'a command line' },
};

function parseProfile(name: string, value: unknown, file: string): Profile {
  const where = `${file}: servers.${name}`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw ferryError('USAGE', `${where} must be an object with at least "host"`);
  for (const [key, field] of Object.entries(value)) {
    const spec = FIELDS[key as keyof Profile] as (typeof FIELDS)[keyof Profile] | undefined;
    if (!spec) throw ferryError('USAGE', `${where}.${key} is not a profile field; the fields are ${Object.keys(FIELDS).join(', ')}`);
    if (!spec.check(field)) throw ferryError('USAGE', `${where}.${key} must be ${spec.expect}, not ${JSON.stringify(field)}`);
  }
  if (!('host' in value)) throw ferryError('USAGE', `${where} has no "host"`);
  return value as Profile;
}

export function parseClientConfig(text: string, file: string): ClientConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw ferryError('USAGE', `${file} is not valid JSON (${(error as Error).message}); fix it, or remove it to start again`, error);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw ferryError('USAGE', `${file} must hold a JSON object like {"servers": {}}`);
  const { servers = {}, ...rest } = value as { servers?: unknown };
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw ferryError('USAGE', `${file}: "${unknown}" is not a setting of the ferry client; it knows "servers"`);
  if (typeof servers !== 'object' || servers === null || Array.isArray(servers)) throw ferryError('USAGE', `${file}: "servers" must be an object of named profiles`);
  const parsed: Record<string, Profile> = {};
  for (const [name, profile] of Object.entries(servers)) parsed[name] = parseProfile(name, profile, file);
  return { servers: parsed };
}

/** The config file's contents; an absent file is an empty config. */
export async function readClientConfig(file: string = clientConfigFile()): Promise<{ config: ClientConfig; exists: boolean }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (systemErrorCode(error) === 'ENOENT') return { config: { servers: {} }, exists: false };
    throw ferryError('USAGE', `cannot read the ferry client config ${file}: ${(error as Error).message}`, error);
  }
  return { config: parseClientConfig(text, file), exists: true };
}

/** Writes the whole file at once (a temp file renamed over it), readable by its owner only. */
export async function writeClientConfig(config: ClientConfig, file: string = clientConfigFile()): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${randomUUID()}.tmp`;
  await writeFile(temp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await rename(temp, file);
}

export function profileOptions(profile: Profile): ProfileOptions {
  const { host, port, ...rest } = profile;
  return { server: port === undefined ? host : formatServerAddress({ host, port }), ...rest };
}

/** The profile `-s` names, if it names one (an address that is also a profile name means the profile). */
export async function findProfile(server: string | undefined): Promise<ProfileOptions | undefined> {
  if (server === undefined || !PROFILE_NAME.test(server)) return undefined;
  const { config } = await readClientConfig();
  const profile = Object.hasOwn(config.servers, server) ? config.servers[server] : undefined;
  return profile && profileOptions(profile);
}
