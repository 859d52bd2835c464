/**
 * Web logins as sealed cookies. A session is a small record (user, the credential
 * they logged in with, a random id, an expiry) signed with HMAC-SHA256; nothing is
 * kept per session on the server, so every cluster worker (and a restarted server)
 * accepts the cookie another one issued. The signing key is derived from the TLS
 * private key, which every worker already reads and no one else may.
 *
 * A session ends when its user is removed or their password changes (the credential
 * in the seal no longer matches the users file), at its expiry, or at logout (its id
 * is remembered until the expiry would have ended it anyway; in a cluster the primary
 * keeps these ids too, for the workers it starts later).
 *
 * The CSRF token is derived from the session id with the same key: a page of
 * another origin cannot read it, so it cannot send it in the header that every
 * state-changing request must carry.
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface WebSession {
  user: string;
  /** The credential (digest of the password hash) the user logged in with. */
  credential: string;
  id: string;
  expires: number;
}

export const SESSION_COOKIE = 'ferry_session';
export const CSRF_HEADER = 'x-csrf-token';

export class SessionSeal {
  private readonly key: Buffer;
  private readonly loggedOut = new Map<string, number>();

  constructor(
    tlsKey: Buffer,
    private readonly lifetimeMs: number,
  ) {
    this.key = createHmac('sha256', tlsKey).update('ferry web sessions v1').digest();
  }

  private mac(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('base64url');
  }

  issue(user: string, credential: string, now = Date.now()): { token: string; session: WebSession } {
    const session: WebSession = { user, credential, id: randomBytes(18).toString('base64url'), expires: now + this.lifetimeMs };
    const body = Buffer.from(JSON.stringify(session)).toString('base64url');
    return { token: `${body}.${this.mac(body)}`, session };
  }

  /** The session a cookie holds, if its seal is intact and it has not ended. */
  open(token: string | undefined, now = Date.now()): WebSession | undefined {
    if (token === undefined) return undefined;
    const [body, mac, extra] = token.split('.');
    if (body === undefined || mac === undefined || extra !== undefined || !equalText(mac, this.mac(body))) return undefined;
    let session: WebSession;
    try {
      session = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as WebSession;
    } catch {
      return undefined;
    }
    if (typeof session.expires !== 'number' || session.expires <= now || this.loggedOut.has(session.id)) return undefined;
    return session;
  }

  csrfToken(session: WebSession): string {
    return this.mac(`csrf:${session.id}`);
  }

  checkCsrf(session: WebSession, sent: string | undefined): boolean {
    return sent !== undefined && equalText(sent, this.csrfToken(session));
  }

  /** Refuses the session with this id from now until it would have expired anyway. */
  forget(id: string, expires: number, now = Date.now()): void {
    for (const [known, until] of this.loggedOut) if (until <= now) this.loggedOut.delete(known);
    if (expires > now) this.loggedOut.set(id, expires);
  }
}

function equalText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

export function clearedCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0`;
}
