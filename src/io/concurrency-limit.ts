/**
 * Runs at most `limit` tasks at once; the others wait their turn in arrival order.
 * Password hashing uses it so that a storm of logins takes a bounded share of the
 * CPU and of libuv's thread pool, which file transfers need too.
 */

export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}


  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
