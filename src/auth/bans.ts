/**
 * Brute-force defence: failed logins are counted per IP address within a window;
 * past the threshold the address is banned for a while. The BanBook is the pure
 * bookkeeping. A single process consults its own book; in a cluster the primary
 * keeps the one book and tells every worker about bans (see cluster/), so a ban
 * holds whichever worker a connection lands on.
 */

export interface BanPolicy {
  /** Failures within `windowMs` that lead to a ban; 0 turns bans off. */
  threshold: number;
  windowMs: number;
  durationMs: number;
}

export class BanBook {
  private readonly failures = new Map<string, number[]>();
  private readonly bans = new Map<string, number>();

  constructor(private readonly policy: BanPolicy) {}

  /** When the ban on `ip` ends, if it is banned at `now`. */
  bannedUntil(ip: string, now = Date.now()): number | undefined {
    const until = this.bans.get(ip);
    if (until === undefined) return undefined;
    if (until > now) return until;
    this.bans.delete(ip);
    return undefined;
  }

  /** Counts a failure; returns the end of the ban it caused, if it caused one. */
  recordFailure(ip: string, now = Date.now()): number | undefined {
    if (this.policy.threshold <= 0) return undefined;
    const recent = (this.failures.get(ip) ?? []).filter((at) => now - at < this.policy.windowMs);
    recent.push(now);
    if (recent.length < this.policy.threshold) {
      this.failures.set(ip, recent);
      return undefined;
    }
    this.failures.delete(ip);
    const until = now + this.policy.durationMs;
    this.bans.set(ip, until);
    return until;
  }

  recordSuccess(ip: string): void {
    this.failures.delete(ip);
  }

  /** Learns of a ban decided elsewhere (a cluster worker hearing from the primary). */
  ban(ip: string, until: number): void {
    this.bans.set(ip, until);
  }

  /** Bans in force at `now`, to tell a process that starts late. */
  activeBans(now = Date.now()): [string, number][] {
    return [...this.bans].filter(([, until]) => until > now);
  }

  /** Forgets what no longer matters, so the book stays small under a scan of many addresses. */
  prune(now = Date.now()): void {
    for (const [ip, until] of this.bans) if (until <= now) this.bans.delete(ip);
    for (const [ip, times] of this.failures) if (times.every((at) => now - at >= this.policy.windowMs)) this.failures.delete(ip);
  }
}

/** What a session asks and tells about logins from an address. */
export interface LoginGuard {
  bannedUntil(ip: string): number | undefined;
  /** Returns the end of a ban this failure caused, when this process knows it at once. */
  failure(ip: string): number | undefined;
  success(ip: string): void;
}

/** The guard of a single process: its own book. */
export class LocalLoginGuard implements LoginGuard {
  private readonly timer: NodeJS.Timeout;

  constructor(readonly book: BanBook) {
    this.timer = setInterval(() => book.prune(), 60_000);
    this.timer.unref();
  }

  bannedUntil(ip: string): number | undefined {
    return this.book.bannedUntil(ip);
  }

  failure(ip: string): number | undefined {
    return this.book.recordFailure(ip);
  }

  success(ip: string): void {
    this.book.recordSuccess(ip);
  }
}
