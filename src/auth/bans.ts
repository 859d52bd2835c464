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
 * An attempt that arrives while failures plus attempts still being checked reach
 * a limit waits for those to end: if they fail, the ban they complete refuses it;
 * if they succeed (many clients of one user logging in at once), it goes ahead.
 * A success clears that account's failures from that source, and nothing else (a
 * success on one account does not clear failures against another).
 *
 * The BanBook is the pure bookkeeping; the LoginQueue adds the waiting. A single
 * process keeps its own; in a cluster the primary keeps the one queue and workers
 * ask it over IPC (see cluster/server-books.ts), so the limits hold for the whole
 * server.
 */

import type { Logger } from 'pino';

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
  id: number;
  source: string;
  account: string;
}

type BanScope = 'source' | 'account';

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
  failures: number[];
  /** Attempts allowed and still being checked. */
  pending: number;
  until: number;
}

function accountKey(account: string, source: string): string {
  return `${source}\u0000${account}`;
}

export class BanBook {
  private readonly counts = new Map<string, Count>();
  private nextTicket = 1;

  constructor(private readonly policy: BanPolicy) {}

  private get accountThreshold(): number {
    return this.policy.accountThreshold ?? this.policy.threshold;
  }

  private count(key: string, now: number): Count {
    let count = this.counts.get(key);
    if (!count) {
      count = { failures: [], pending: 0, until: 0 };
      this.counts.set(key, count);
    }
    count.failures = count.failures.filter((at) => now - at < this.policy.windowMs);
    return count;
  }

  /**
   * Decides an attempt as it arrives: allowed (and counted as pending), refused
   * (banned), or undefined when it must wait for pending attempts to end.
   */
  attempt(source: string, account: string, now = Date.now()): LoginVerdict | undefined {
    const ticket: LoginTicket = { id: this.nextTicket++, source, account };
    if (this.policy.threshold <= 0) return { allowed: true, ticket };
    const bySource = this.count(source, now);
    const byAccount = this.count(accountKey(account, source), now);
    if (bySource.until > now) return { allowed: false, ban: { scope: 'source', source, until: bySource.until }, started: false };
    if (byAccount.until > now) return { allowed: false, ban: { scope: 'account', source, account, until: byAccount.until }, started: false };
    const ban = this.banIfOver(bySource, byAccount, ticket, now);
    if (ban) return { allowed: false, ban, started: true };
    if (bySource.failures.length + bySource.pending >= this.policy.threshold) return undefined;
    if (byAccount.failures.length + byAccount.pending >= this.accountThreshold) return undefined;
    bySource.pending++;
    byAccount.pending++;
    return { allowed: true, ticket };
  }

  private banIfOver(bySource: Count, byAccount: Count, ticket: LoginTicket, now: number): Ban | undefined {
    const until = now + this.policy.durationMs;
    if (bySource.failures.length >= this.policy.threshold) {
      bySource.until = until;
      bySource.failures = [];
      return { scope: 'source', source: ticket.source, until };
    }
    if (byAccount.failures.length >= this.accountThreshold) {
      byAccount.until = until;
      byAccount.failures = [];
      return { scope: 'account', source: ticket.source, account: ticket.account, until };
    }
    return undefined;
  }

  private settle(ticket: LoginTicket, now: number): [Count, Count] {
    const bySource = this.count(ticket.source, now);
    const byAccount = this.count(accountKey(ticket.account, ticket.source), now);
    bySource.pending = Math.max(0, bySource.pending - 1);
    byAccount.pending = Math.max(0, byAccount.pending - 1);
    return [bySource, byAccount];
  }

  /** The attempt failed. Returns the ban it completes, if any. */
  failed(ticket: LoginTicket, now = Date.now()): Ban | undefined {
    if (this.policy.threshold <= 0) return undefined;
    const [bySource, byAccount] = this.settle(ticket, now);
    if (bySource.until > now || byAccount.until > now) return undefined;
    bySource.failures.push(now);
    byAccount.failures.push(now);
    return this.banIfOver(bySource, byAccount, ticket, now);
  }

  /** The attempt succeeded: clears its account's failures from its source. */
  succeeded(ticket: LoginTicket, now = Date.now()): void {
    if (this.policy.threshold <= 0) return;
    const [, byAccount] = this.settle(ticket, now);
    byAccount.failures = [];
  }

  /** The attempt's outcome will never be known (its worker died): it counts neither way. */
  abandoned(ticket: LoginTicket, now = Date.now()): void {
    if (this.policy.threshold > 0) this.settle(ticket, now);
  }

  /** Forgets what no longer matters, so the book stays small under a scan of many addresses. */
  prune(now = Date.now()): void {
    for (const [key, count] of this.counts) {
      if (count.pending === 0 && count.until <= now && count.failures.every((at) => now - at >= this.policy.windowMs)) this.counts.delete(key);
    }
  }
}

/** What a session asks and tells about logins. */
export interface LoginGuard {
  attempt(source: string, account: string): Promise<LoginVerdict>;
  failed(ticket: LoginTicket): void;
  succeeded(ticket: LoginTicket): void;
}

/**
 * A BanBook with its waiting line: attempts the book cannot decide yet wait, in
 * arrival order, until an attempt ahead of them ends. `onBan` hears of each ban.
 */
export class LoginQueue implements LoginGuard {
  private readonly waiting: { source: string; account: string; resolve: (verdict: LoginVerdict) => void }[] = [];

  constructor(
    readonly book: BanBook,
    private readonly onBan: (ban: Ban) => void = () => undefined,
  ) {
    const timer = setInterval(() => book.prune(), 60_000);
    timer.unref();
  }

  attempt(source: string, account: string): Promise<LoginVerdict> {
    return new Promise((resolve) => {
      const verdict = this.decide(source, account);
      if (verdict) resolve(verdict);
      else this.waiting.push({ source, account, resolve });
    });
  }

  private decide(source: string, account: string): LoginVerdict | undefined {
    const verdict = this.book.attempt(source, account);
    if (verdict && !verdict.allowed && verdict.started) this.onBan(verdict.ban);
    return verdict;
  }

  failed(ticket: LoginTicket): void {
    const ban = this.book.failed(ticket);
    if (ban) this.onBan(ban);
    this.wake();
  }

  succeeded(ticket: LoginTicket): void {
    this.book.succeeded(ticket);
    this.wake();
  }

  abandoned(ticket: LoginTicket): void {
    this.book.abandoned(ticket);
    this.wake();
  }

  /** Lets each waiting attempt the book can now decide go on. */
  private wake(): void {
    for (let index = 0; index < this.waiting.length; ) {
      const waiter = this.waiting[index] as (typeof this.waiting)[number];
      const verdict = this.decide(waiter.source, waiter.account);
      if (verdict) {
        this.waiting.splice(index, 1);
        waiter.resolve(verdict);
      } else index++;
    }
  }
}

/** A single process guards its logins with its own queue. */
export { LoginQueue as LocalLoginGuard };

/** What a ban means, for the refused client and for the log. */
export function describeBan(ban: Ban): string {
  const until = new Date(ban.until).toISOString();
  if (ban.scope === 'source') return `too many failed logins from ${ban.source}; try again after ${until}`;
  return `too many failed logins to this account from ${ban.source}; try again after ${until}, or from another address`;
}

/** The log line of a ban, the same from every process that decides bans. */
export function logBan(logger: Logger, ban: Ban): void {
  logger.warn({ event: 'ban', scope: ban.scope, remote: ban.source, until: new Date(ban.until).toISOString() }, `ban: ${describeBan(ban)}`);
}
