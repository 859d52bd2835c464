/**
 * A per-connection bandwidth limit: a token bucket holding at most one second's
 * worth of bytes. A transfer asks for its bytes after moving them and waits when
 * it runs ahead, so the average rate stays at the limit while bursts stay small.
 */

import { setTimeout as sleep } from 'node:timers/promises';

export class Throttle {
  private tokens: number;
  private last = performance.now();

  /** `bytesPerSecond` of 0 means no limit. */
  constructor(private readonly bytesPerSecond: number) {
    this.tokens = bytesPerSecond;
  }

  async take(bytes: number): Promise<void> {
    if (this.bytesPerSecond <= 0) return;
    const now = performance.now();
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
    this.tokens -= bytes;
    if (this.tokens < 0) await sleep((-this.tokens / this.bytesPerSecond) * 1000);
  }
}
