/**
 * Connection limits, counted on raw TCP connections at accept, before any TLS
 * handshake, so a flood of half-open handshakes is held to the same limits as
 * logged-in clients. A single process keeps its own ConnectionBook; in a cluster
 * the primary keeps the one book and workers ask it (cluster/connection-gate.ts),
 * so the limits hold for the whole server rather than per worker.
 */

export interface ConnectionLimits {
  maxConnections: number;
  /** Per source (see auth/source.ts: an IPv6 /64 counts as one). */
  maxConnectionsPerIp: number;
}

export class ConnectionBook {
  private total = 0;
  private readonly bySource = new Map<string, number>();

  constructor(private readonly limits: ConnectionLimits) {}

  /** Counts a connection in; or, over a limit, says which (and counts nothing). */
  admit(source: string): string | undefined {
    const fromSource = this.bySource.get(source) ?? 0;
    if (this.total >= this.limits.maxConnections) return `${this.limits.maxConnections} connections`;
    if (fromSource >= this.limits.maxConnectionsPerIp) return `${this.limits.maxConnectionsPerIp} connections from ${source}`;
    this.total++;
    this.bySource.set(source, fromSource + 1);
    return undefined;
  }

  release(source: string, count = 1): void {
    const left = (this.bySource.get(source) ?? count) - count;
    if (left > 0) this.bySource.set(source, left);
    else this.bySource.delete(source);
    this.total = Math.max(0, this.total - count);
  }
}

/** What the listener asks before serving a raw connection. */
export interface ConnectionGate {
  /** Undefined when admitted (release it once closed); otherwise the limit it met. */
  admit(source: string): Promise<string | undefined>;
  release(source: string): void;
}

export class LocalConnectionGate implements ConnectionGate {
  constructor(private readonly book: ConnectionBook) {}

  admit(source: string): Promise<string | undefined> {
    return Promise.resolve(this.book.admit(source));
  }

  release(source: string): void {
    this.book.release(source);
  }
}
