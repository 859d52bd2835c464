/**
 * How the client trusts a TLS server: by a pinned certificate fingerprint (on first
 * use, as SSH does, or as the user gave it) or by a CA. This module judges a
 * certificate the server showed; connect.ts opens the connection and asks it.
 */

import type { TLSSocket } from 'node:tls';
import { ferryError } from '../protocol/errors.js';
import { certificateFingerprint } from '../protocol/fingerprint.js';
import type { KnownHosts } from './known-hosts.js';

/** A certificate the user is asked to trust: seen for the first time, or changed. */
export interface TrustQuestion {
  server: string;
  fingerprint: string;
  /** What was pinned before, when the certificate changed. */
  previous?: string;
}

/** How a TLS server is trusted: pinned (on first use, or as given), or verified against a CA. */
export type TlsTrust =
  | {
      kind: 'pin';
      knownHosts: KnownHosts;
      /**
       * A fingerprint the server must show. One the user gave (`--fingerprint`) is
       * pinned as given; one from an mDNS record is unauthenticated, so it is only
       * an extra check on first use and never overrides what is pinned.
       */
      expected?: { fingerprint: string; source: 'user' | 'mdns' };
      /** Asked before a certificate is pinned; resolves true to trust it. No connection is open meanwhile. */
      approve: (question: TrustQuestion) => Promise<boolean>;
      /** The user asked to trust the certificate the server shows now, even if it changed (`ferry trust`). */
      replace?: boolean;
    }
  | { kind: 'ca'; ca: string | Buffer };

type PinTrust = Extract<TlsTrust, { kind: 'pin' }>;

/** Whether the certificate `actual` of `where` is trusted already, or what to ask the user. */
export async function judgeCertificate(actual: string, trust: PinTrust, where: string): Promise<'trusted' | TrustQuestion> {
  const { expected, knownHosts } = trust;
  if (expected?.source === 'user') {
    if (actual !== expected.fingerprint) {
      throw ferryError(
        'TLS_UNTRUSTED',
        `the TLS certificate of ${where} has fingerprint ${actual}, not ${expected.fingerprint} as you gave with --fingerprint. ` +
          `Someone may be intercepting the connection, or the fingerprint is from another server: compare it with the server's start-up log`,
      );
    }
    if ((await knownHosts.get(where)) !== actual) await knownHosts.set(where, actual);
    return 'trusted';
  }
  const known = await knownHosts.get(where);
  if (known === actual) return 'trusted';
  if (known !== undefined && !trust.replace) {
    throw ferryError(
      'TLS_UNTRUSTED',
      `the TLS certificate of ${where} has CHANGED: it was ${known}, it is now ${actual}. ` +
        `Someone may be intercepting the connection. If the server was given a new certificate on purpose ` +
        `(compare with the fingerprint in its log), accept it with: ferry -s ${where} trust`,
    );
  }
  if (known === undefined && expected !== undefined && actual !== expected.fingerprint) {
    throw ferryError(
      'TLS_UNTRUSTED',
      `the TLS certificate of ${where} has fingerprint ${actual}, but the server's mDNS announcement names ${expected.fingerprint}. ` +
        `Someone on the network may be impersonating it; compare with the fingerprint in the server's log and connect with -s ${where} --fingerprint SHA256:...`,
    );
  }
  return { server: where, fingerprint: actual, ...(known !== undefined ? { previous: known } : {}) };
}

export function fingerprintOfPeer(socket: TLSSocket, where: string): string {
  const certificate = socket.getPeerX509Certificate();
  if (certificate === undefined) throw ferryError('TLS_UNTRUSTED', `${where} showed no TLS certificate`);
  return certificateFingerprint(certificate);
}
