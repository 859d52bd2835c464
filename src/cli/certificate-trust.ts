/**
 * How the client trusts a server's TLS certificate: a CA file, a fingerprint given
 * or announced, or the pin recorded on first use (asking first on a terminal, as
 * ssh does).
 */

import { readFile } from 'node:fs/promises';
import type { TlsTrust, TrustQuestion } from '../client/client.js';
import { KnownHosts, defaultKnownHostsFile } from '../client/known-hosts.js';
import { ferryError } from '../protocol/errors.js';
import { parseFingerprint } from '../protocol/fingerprint.js';
import { askLine } from './ask.js';
import type { LoginOptions } from './connect.js';

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
