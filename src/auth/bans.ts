/**
 * Brute-force defence. Every login attempt is counted when it arrives, before the
 * slow password check, so a burst of parallel guesses cannot slip past the limit
 * while their hashes are still being computed. Two counts apply to each attempt:
 *
 * - per source (see source.ts): past `threshold` failures within `windowMs` the
 *   source is banned for `durationMs`, whatever account it tries;
 * - per account and source: past `accountThreshold` failures against one account
 *   from one source, that account is refused to that source only. The rightful
 *   owner, logging in from their own address, is never locked out by a stranger.
 *
 * An attempt is counted as a failure until it proves otherwise: a success takes
 * back its own count and clears that account's count from that source, and
 * nothing else (a success on one account does not clear failures against another).
 *
 * The BanBook is the pure bookkeeping. A single process consults its own; in a
 * cluster the primary keeps the one book and workers ask it over IPC (see
 * cluster/login-book.ts), so the limits hold for the whole server.
 */

export interface BanPolicy {
  /** Failures from one source within `windowMs` that lead to a ban; 0 turns bans off. */
  threshold: number;
  /** Failures against one account from one source that refuse it that account; default `threshold`. */
  accountThreshold?: number;
  windowMs: number;
  durationMs: number;
}

/** One attempt, as counted; handed back with its outcome. */
export interface LoginTicket {
  source: string;
  account: string;
  at: number;
}

export type BanScope = 'source' | 'account';

export interface Ban {
  scope: BanScope;
  source: string;
  /** The account, for an account ban. */
  account?: string;
  until: number;
}

/** A refusal says whether this very attempt started the ban (so it is announced once). */
export type LoginVerdict = { allowed: true; ticket: LoginTicket } | { allowed: false; ban: Ban; started: boolean };

interface Count {
  times: number[];
  until: number;
}

function accountKey(account: string, source: string): string {
  return `${source}\u0000${account}`;
}

export class BanBook {
  private readonly counts = new Map<string, Count>();

  constructor(private readonly policy: BanPolicy) {}

  private get accountThreshold(): number {
    return this.policy.accountThreshold ?? this.policy.threshold;
  }

  private count(key: string, now: number): Count {
    let count = this.counts.get(key);
    if (!count) {
      count = { times: [], until: 0 };
      this.counts.set(key, count);
    }
    count.times = count.times.filter((at) => now - at < this.policy.windowMs);
    return count;
  }

  /**
   * Counts an attempt as it arrives. Refused when its source or its account from
   * that source is banned, or already has as many attempts as the limit allows
   * (failed or still being checked): that arrival starts the ban.
   */
  attempt(source: string, account: string, now = Date.now()): LoginVerdict {
    const ticket: LoginTicket = { source, account, at: now };
    if (this.policy.threshold <= 0) return { allowed: true, ticket };
    const bySource = this.count(source, now);
    const byAccount = this.count(accountKey(account, source), now);
    if (bySource.until > now) return { allowed: false, ban: { scope: 'source', source, until: bySource.until }, started: false };
    if (byAccount.until > now) return { allowed: false, ban: { scope: 'account', source, account, until: byAccount.until }, started: false };
    const ban = this.banIfOver(bySource, byAccount, ticket, now);
    if (ban) return { allowed: false, ban, started: true };
    bySource.times.push(now);
    byAccount.times.push(now);
    return { allowed: true, ticket };
  }

  private banIfOver(bySource: Count, byAccount: Count, ticket: LoginTicket, now: number): Ban | undefined {
    const until = now + this.policy.durationMs;
    if (bySource.times.length >= this.policy.threshold) {
      bySource.until = until;
      bySource.times = [];
      return { scope: 'source', source: ticket.source, until };
    }
    if (byAccount.times.length >= this.accountThreshold) {
      byAccount.until = until;
      byAccount.times = [];
      return { scope: 'account', source: ticket.source, account: ticket.account, until };
    }
    return undefined;
  }

  /** The attempt failed: it stays counted. Returns the ban it completes, if any. */
  failed(ticket: LoginTicket, now = Date.now()): Ban | undefined {
    if (this.policy.threshold <= 0) return undefined;
    const bySource = this.count(ticket.source, now);
    const byAccount = this.count(accountKey(ticket.account, ticket.source), now);
    if (bySource.until > now || byAccount.until > now) return undefined;
    return this.banIfOver(bySource, byAccount, ticket, now);
  }

  /** The attempt succeeded: takes back its own count and clears its account's count from its source. */
  succeeded(ticket: LoginTicket): void {
    const bySource = this.counts.get(ticket.source);
    const index = bySource?.times.indexOf(ticket.at) ?? -1;
    if (bySource && index >= 0) bySource.times.splice(index, 1);
    this.counts.delete(accountKey(ticket.account, ticket.source));
  }

  /** Forgets what no longer matters, so the book stays small under a scan of many addresses. */
  prune(now = Date.now()): void {
    for (const [key, count] of this.counts) {
      if (count.until <= now && count.times.every((at) => now - at >= this.policy.windowMs)) this.counts.delete(key);
    }
  }
}

/** What a session asks and tells about logins. */
export interface LoginGuard {
  attempt(source: string, account: string): Promise<LoginVerdict>;
  failed(ticket: LoginTicket): void;
  succeeded(ticket: LoginTicket): void;
}

/** Keeps the book small on a timer; returns a function that stops it. */
export function pruneEveryMinute(book: BanBook): () => void {
  const timer = setInterval(() => book.prune(), 60_000);
  timer.unref();
  return () => clearInterval(timer);
}

/** The guard of a single process: its own book; `onBan` hears of each ban it decides. */
export class LocalLoginGuard implements LoginGuard {
  constructor(
    readonly book: BanBook,
    private readonly onBan: (ban: Ban) => void = () => undefined,
  ) {
    pruneEveryMinute(book);
  }

  attempt(source: string, account: string): Promise<LoginVerdict> {
    const verdict = this.book.attempt(source, account);
    if (!verdict.allowed && verdict.started) this.onBan(verdict.ban);
    return Promise.resolve(verdict);
  }

  failed(ticket: LoginTicket): void {
    const ban = this.book.failed(ticket);
    if (ban) this.onBan(ban);
  }

  succeeded(ticket: LoginTicket): void {
    this.book.succeeded(ticket);
  }
}

/** What a ban means, for the refused client and for the log. */
export function describeBan(ban: Ban): string {
  const until = new Date(ban.until).toISOString();
  if (ban.scope === 'source') return `too many failed logins from ${ban.source}; try again after ${until}`;
  return `too many failed logins to this account from ${ban.source}; try again after ${until}, or from another address`;
}
