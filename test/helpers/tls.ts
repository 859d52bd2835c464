/**
 * TLS for tests, as the real default is TLS: one self-signed certificate shared
 * by every in-process test server of a test process, and clients that pin a
 * server's fingerprint explicitly (what a careful user does with --fingerprint).
 * Known-hosts files live in one temporary folder per test process, never in the
 * user's own configuration.
 */

import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectOptions, TlsTrust } from '../../src/client/client.js';
import { KnownHosts } from '../../src/client/known-hosts.js';
import { createSelfSignedCertificate, type Certificate } from '../../src/ops/certificate.js';

const KNOWN_HOSTS_DIR = join(tmpdir(), `ferry-known-hosts-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
let knownHostsMade = false;
let nextKnownHosts = 0;

/** A known-hosts file no other client run shares (servers come and go on reused ports). */
export function freshKnownHostsFile(): string {
  if (!knownHostsMade) {
    mkdirSync(KNOWN_HOSTS_DIR, { recursive: true });
    // Sticky and open to all, as /tmp is: some runs are as an unprivileged user (RunOptions.uid).
    chmodSync(KNOWN_HOSTS_DIR, 0o1777);
    process.once('exit', () => rmSync(KNOWN_HOSTS_DIR, { recursive: true, force: true }));
    knownHostsMade = true;
  }
  return join(KNOWN_HOSTS_DIR, `known_hosts.${nextKnownHosts++}`);
}

let shared: Promise<Certificate> | undefined;

/** The certificate in-process test servers use unless told otherwise. */
export function testCertificate(): Promise<Certificate> {
  shared ??= createSelfSignedCertificate(30);
  return shared;
}

/** Trust that accepts exactly `fingerprint`, as `--fingerprint` does. */
function pinnedTrust(fingerprint: string): TlsTrust {
  return {
    kind: 'pin',
    knownHosts: new KnownHosts(freshKnownHostsFile()),
    expected: { fingerprint, source: 'user' },
    approve: () => Promise.resolve(false),
  };
}

/** How a library client reaches a server on 127.0.0.1: pinned TLS, or plain without a fingerprint. */
export function loopbackAddress(port: number, fingerprint: string | undefined): ConnectOptions {
  return { host: '127.0.0.1', port, ...(fingerprint ? { tls: pinnedTrust(fingerprint) } : {}) };
}

/** Environment telling the CLI how to trust a server: its fingerprint, or that it is plain. */
export function trustEnv(fingerprint: string | undefined): Record<string, string> {
  return fingerprint ? { FERRY_FINGERPRINT: fingerprint } : { FERRY_TLS: 'false' };
}
