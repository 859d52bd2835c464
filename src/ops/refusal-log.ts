/**
 * Refused logins, logged as one line per source per interval with counts, rather
 * than a line each: a guessing storm costs the log a few hundred bytes a minute
 * per source, however fast it guesses. The first refusal from a quiet source is
 * logged at once, so an operator watching the log sees an attack begin.
 */

import type { Logger } from 'pino';
import { clientText } from './logger.js';

/** User names kept per source per interval, as a sample of what was tried. */
const SAMPLE_USERS = 3;

interface Tally {
  failure: number;
  banned: number;
  users: Set<string>;
}

export type Refusal = 'failure' | 'banned';

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

  note(source: string, result: Refusal, user: string): void {
    if (!this.seen.has(source)) {
      this.seen.add(source);
      this.logger.warn({ event: 'auth', remote: source, user: clientText(user), result }, `login refused (${result}) from ${source}`);
      return;
    }
    let tally = this.tallies.get(source);
    if (!tally) {
      tally = { failure: 0, banned: 0, users: new Set() };
      this.tallies.set(source, tally);
    }
    tally[result]++;
    if (tally.users.size < SAMPLE_USERS) tally.users.add(clientText(user) ?? '');
  }

  /** Logs what the interval gathered and starts a new one. */
  flush(): void {
    const tallies = this.tallies;
    this.tallies = new Map();
    this.seen = new Set(tallies.keys());
    for (const [source, { failure, banned, users }] of tallies) {
      this.logger.warn(
        { event: 'auth-refused', remote: source, failure, banned, users: [...users], intervalMs: this.intervalMs },
        `${failure + banned} more logins refused from ${source} in the last ${Math.round(this.intervalMs / 1000)} s`,
      );
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
