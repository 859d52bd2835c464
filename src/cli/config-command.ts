/**
 * `ferry config`: where the client's config file is and the servers saved in it;
 * `ferry config add NAME [HOST[:PORT]]` saves the connection options given on the
 * same command line (-s, -u, --fingerprint, --ca, --no-tls, --password-command)
 * under NAME; `ferry config remove NAME` forgets one.
 */

import { resolve } from 'node:path';
import { ferryError } from '../protocol/errors.js';
import { ExitCode } from './exit-codes.js';
import type { Output } from './output.js';
import { checkProfileName, clientConfigFile, readClientConfig, writeClientConfig, type Profile } from './profiles.js';
import { parseServerAddress } from './server-address.js';

/** Connection options as typed on the command line (not from the environment or a profile). */
export interface TypedConnection {
  server?: string;
  user?: string;
  fingerprint?: string;
  ca?: string;
  tls?: boolean;
  passwordCommand?: string;
}

function describe(profile: Profile): string {
  const address = `${profile.host}${profile.port === undefined ? '' : `:${profile.port}`}`;
  const trust = profile.tls === false ? 'plain TCP' : profile.ca ? `TLS, CA ${profile.ca}` : profile.fingerprint ? `TLS, pinned ${profile.fingerprint}` : 'TLS';
  const parts = [address, profile.user ? `user ${profile.user}` : undefined, trust, profile.passwordCommand ? 'password from a command' : undefined];
  return parts.filter(Boolean).join(', ');
}

export async function showConfig(out: Output): Promise<ExitCode> {
  const file = clientConfigFile();
  const { config, exists } = await readClientConfig(file);
  out.line(`config file: ${file}${exists ? '' : ' (not created yet; "ferry -s HOST[:PORT] -u USER config add NAME" saves a server)'}`);
  const names = Object.keys(config.servers).sort();
  if (names.length === 0) out.line('saved servers: none');
  else out.line('saved servers (use one with: ferry -s NAME ...):');
  for (const name of names) out.line(`  ${name}\t${describe(config.servers[name] as Profile)}`);
  out.json({ file, exists, servers: config.servers });
  return ExitCode.OK;
}

export async function addProfile(out: Output, name: string, address: string | undefined, typed: TypedConnection): Promise<ExitCode> {
  checkProfileName(name);
  const where = address ?? typed.server;
  if (where === undefined) {
    throw ferryError('USAGE', `say where "${name}" is: ferry config add ${name} HOST[:PORT] (or give -s HOST[:PORT] before "config")`);
  }
  const { host, port } = parseServerAddress(where);
  const profile: Profile = {
    host,
    ...(/:\d+$/.test(where.trim()) ? { port } : {}),
    ...(typed.user !== undefined ? { user: typed.user } : {}),
    ...(typed.fingerprint !== undefined ? { fingerprint: typed.fingerprint } : {}),
    // Saved as an absolute path: the profile is used from any folder.
    ...(typed.ca !== undefined ? { ca: resolve(typed.ca) } : {}),
    ...(typed.tls !== undefined ? { tls: typed.tls } : {}),
    ...(typed.passwordCommand !== undefined ? { passwordCommand: typed.passwordCommand } : {}),
  };
  const file = clientConfigFile();
  const { config } = await readClientConfig(file);
  const replaced = Object.hasOwn(config.servers, name);
  config.servers[name] = profile;
  await writeClientConfig(config, file);
  out.line(`${replaced ? 'replaced' : 'saved'} server "${name}": ${describe(profile)} (in ${file}); use it with: ferry -s ${name} ls`);
  out.json({ file, name, profile, replaced });
  return ExitCode.OK;
}

export async function removeProfile(out: Output, name: string): Promise<ExitCode> {
  const file = clientConfigFile();
  const { config } = await readClientConfig(file);
  if (!Object.hasOwn(config.servers, name)) {
    const known = Object.keys(config.servers).sort().join(', ') || 'none';
    throw ferryError('NOT_FOUND', `no saved server is called "${name}" (saved: ${known}); "ferry config" lists them`);
  }
  delete config.servers[name];
  await writeClientConfig(config, file);
  out.line(`removed server "${name}" from ${file}`);
  out.json({ file, name, removed: true });
  return ExitCode.OK;
}
