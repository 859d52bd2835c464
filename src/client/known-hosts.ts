/**
 * Trust on first use for TLS, like SSH's known_hosts: the first connection to a
 * server records its certificate's SHA-256 fingerprint; later connections must
 * present the same one. One line per server: `HOST:PORT SHA256:...`.
 */

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, posix } from 'node:path';
import { exists } from '../io/exists.js';
import { clientConfigFolder, pathsOf, type Place } from './config-folder.js';
import { KNOWN_HOSTS_ENV } from './environment.js';
import { systemErrorCode } from '../protocol/errors.js';
import { canonicalFingerprint } from '../protocol/fingerprint.js';

/** Where the known hosts live: FERRY_KNOWN_HOSTS, else the client's config folder (beside config.json). */
export async function defaultKnownHostsFile(place: Place = {}): Promise<string> {
  const env = place.env ?? process.env;
  const chosen = env[KNOWN_HOSTS_ENV];
  if (chosen) return chosen;
  const platform = place.platform ?? process.platform;
  const file = pathsOf(platform).join(clientConfigFolder(place), 'known_hosts');
  if (platform === 'win32') return file;
  // Pins used to go under $XDG_CONFIG_HOME (even a relative one) or ~/.config on
  // every Unix, macOS included: a file there is still used, so no pin is lost.
  const old = posix.join(env.XDG_CONFIG_HOME ?? posix.join(place.home ?? homedir(), '.config'), 'ferry', 'known_hosts');
  if (old !== file && !(await exists(file)) && (await exists(old))) return old;
  return file;
}

export class KnownHosts {
  constructor(readonly file: string) {}

  private async read(): Promise<Map<string, string>> {
    let text = '';
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if (systemErrorCode(error) !== 'ENOENT') throw error;
    }
    const entries = new Map<string, string>();
    for (const line of text.split('\n')) {
      const [server, written] = line.trim().split(/\s+/);
      // Older files hold the hex form; every comparison is made in the one canonical form.
      const fingerprint = written === undefined ? undefined : (canonicalFingerprint(written) ?? written);
      if (server && fingerprint && !server.startsWith('#')) entries.set(server, fingerprint);
    }
    return entries;
  }

  async get(server: string): Promise<string | undefined> {
    return (await this.read()).get(server);
  }

  /** Records (or replaces) the fingerprint of `server`. */
  async set(server: string, fingerprint: string): Promise<void> {
    const entries = await this.read();
    entries.set(server, fingerprint);
    await mkdir(dirname(this.file), { recursive: true });
    // Unique per write: connections of one process may pin at the same moment.
    const temp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temp, [...entries].map(([name, print]) => `${name} ${print}\n`).join(''), { mode: 0o600 });
    await rename(temp, this.file);
  }
}
