/**
 * Refusals of strangers (failed and banned logins, connections over a limit),
 * logged as one line per source per interval with counts, rather than a line
 * each: a guessing storm or a connection flood costs the log a few hundred bytes
 * per source per interval, however fast it goes. The first refusal from a quiet
 * source is logged at once, so an operator watching the log sees an attack begin.
 */

import type { Logger } from 'pino';
import { clientText } from './logger.js';

/** User names kept per source per interval, as a sample of what was tried. */
const SAMPLE_USERS = 3;

export type Refusal = 'failure' | 'banned' | 'busy';

type Tally = Record<Refusal, number> & { users: Set<string> };

const FIRST_LINE: Record<Refusal, { event: string; msg: (source: string) => string }> = {
  failure: { event: 'auth', msg: (source) => `login failed from ${source}` },
  banned: { event: 'auth', msg: (source) => `login refused from ${source}: banned` },
  busy: { event: 'busy', msg: (source) => `refused a connection from ${source}: at the connection limit` },
};

export class RefusalLog {
  private tallies = new Map<string, Tally>();
  /** Sources that were logged at once in this interval (their later refusals wait for the flush). */
  private seen = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {
    this.timer = setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
  }

  /** Notes a refusal of `source`; `user` is the name a refused login tried. */
  note(source: string, result: Refusal, user?: string): void {
    if (!this.seen.has(source)) {
      this.seen.add(source);
      const { event, msg } = FIRST_LINE[result];
      this.logger.warn({ audit: true, event, remote: source, result, ...(user !== undefined ? { user: clientText(user) } : {}) }, msg(source));
      return;
    }
    let tally = this.tallies.get(source);
    if (!tally) {
      tally = { failure: 0, banned: 0, busy: 0, users: new Set() };
      this.tallies.set(source, tally);
    }
    tally[result]++;
    if (user !== undefined && tally.users.size < SAMPLE_USERS) tally.users.add(clientText(user) ?? '');
  }

  /** Logs what the interval gathered and starts a new one. */
  flush(): void {
    const tallies = this.tallies;
    this.tallies = new Map();
    this.seen = new Set(tallies.keys());
    for (const [source, { failure, banned, busy, users }] of tallies) {
      this.logger.warn(
        { audit: true, event: 'refused', remote: source, failure, banned, busy, users: [...users], intervalMs: this.intervalMs },
        `refused ${source} ${failure + banned + busy} more times in the last ${Math.round(this.intervalMs / 1000)} s (failed logins ${failure}, banned ${banned}, over the connection limit ${busy})`,
      );
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
