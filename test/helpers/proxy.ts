/**
 * A TCP proxy on loopback that the test controls: it forwards both directions
 * and can flip one byte at a chosen offset (corruption in transit), cut
 * connections after some bytes (a flaky network), or stall a direction after some
 * bytes (a transfer frozen in mid-flight, to kill one side at a known point).
 */

import type { ExecutionContext } from 'ava';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';

export interface ProxyOptions {
  /** Flip the byte at this offset of the client-to-server stream. */
  corruptUpstreamAt?: number;
  /** Flip the byte at this offset of the server-to-client stream. */
  corruptDownstreamAt?: number;
  /** Cut each of the first `cuts.length` connections after that many bytes (both directions counted). */
  cuts?: number[];
  /**
   * After a cut, keep the server's side of that connection open and silent (a cut
   * the server has not noticed yet) until a later connection's server sends these
   * bytes (so plain TCP only); then close it.
   */
  keepCutServerSideUntil?: string;
  /** Stop forwarding client-to-server bytes after this many (the rest is held back). */
  pauseUpstreamAfter?: number;
  /** Stop forwarding server-to-client bytes after this many. */
  pauseDownstreamAfter?: number;
  /** Forward client-to-server bytes at most this fast (bytes per second), as a slower network would. */
  upstreamBytesPerSecond?: number;
}

export interface Proxy {
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  /** Resolves once a pause limit has been reached. */
  paused: Promise<void>;
  /** Client-to-server bytes handed to the server's connections so far. */
  upstreamBytes(): number;
  /** Sockets (client and server sides) still open. */
  openSockets(): number;
}

/** Lets bytes through no faster than `bytesPerSecond`, measured from the first one. */
class Pacer extends Transform {
  private passed = 0;
  private started = 0;

  constructor(private readonly bytesPerSecond: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.started === 0) this.started = performance.now();
    this.passed += chunk.length;
    const due = this.started + (this.passed / this.bytesPerSecond) * 1000;
    setTimeout(() => done(null, chunk), Math.max(due - performance.now(), 0));
  }
}

/** Forwards bytes, flipping the one at `flipAt` and dropping everything after `pauseAfter`. */
class Meddler extends Transform {
  private seen = 0;

  constructor(
    private readonly flipAt: number | undefined,
    private readonly pauseAfter: number | undefined,
    private readonly onPause: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const at = this.flipAt;
    if (at !== undefined && at >= this.seen && at < this.seen + chunk.length) {
      const copy = Buffer.from(chunk);
      copy[at - this.seen] = (copy[at - this.seen] as number) ^ 0xff;
      chunk = copy;
    }
    const limit = this.pauseAfter;
    if (limit !== undefined && this.seen + chunk.length >= limit) {
      // Past the limit nothing more gets through, as on a network that hangs; the
      // bytes are still read (and dropped) so that a close from the sender is seen.
      const allowed = Math.max(limit - this.seen, 0);
      this.seen += chunk.length;
      if (allowed > 0) this.push(chunk.subarray(0, allowed));
      this.onPause();
      done();
      return;
    }
    this.seen += chunk.length;
    done(null, chunk);
  }
}

export async function startProxy(t: ExecutionContext, targetPort: number, options: ProxyOptions): Promise<Proxy> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let upstreamBytes = 0;
  let onPause = (): void => undefined;
  const paused = new Promise<void>((resolve) => {
    onPause = resolve;
  });
  /** Server sides of cut connections kept open, to be closed once a later server sends `keepCutServerSideUntil`. */
  const kept = new Set<Socket>();
  const server = createServer((client) => {
    const cutAfter = options.cuts?.[accepted++];
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    let keep = false;
    if (cutAfter !== undefined) {
      let moved = 0;
      const count = (chunk: Buffer): void => {
        moved += chunk.length;
        if (moved < cutAfter || client.destroyed) return;
        keep = options.keepCutServerSideUntil !== undefined;
        if (keep) {
          upstream.unpipe();
          upstream.resume();
          kept.add(upstream);
        }
        client.destroy();
        if (!keep) upstream.destroy();
      };
      client.on('data', count);
      upstream.on('data', count);
    }
    const marker = options.keepCutServerSideUntil;
    if (marker !== undefined) {
      let seen = '';
      upstream.on('data', (chunk: Buffer) => {
        if (kept.size === 0 || kept.has(upstream)) return;
        const text = seen + chunk.toString('latin1');
        seen = text.slice(-marker.length);
        if (!text.includes(marker)) return;
        for (const socket of kept) socket.destroy();
        kept.clear();
      });
    }
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      // One side gone (even a stalled one) takes the other down, as on a real network,
      // except a server side the test keeps open after a cut.
      const both = (): void => {
        client.destroy();
        if (!keep || socket === upstream) upstream.destroy();
      };
      socket.on('error', both);
      socket.on('close', () => {
        sockets.delete(socket);
        both();
      });
    }
    const meddled = client.pipe(new Meddler(options.corruptUpstreamAt, options.pauseUpstreamAfter, onPause));
    const paced = options.upstreamBytesPerSecond === undefined ? meddled : meddled.pipe(new Pacer(options.upstreamBytesPerSecond));
    paced.on('data', (chunk: Buffer) => (upstreamBytes += chunk.length));
    paced.pipe(upstream);
    upstream.pipe(new Meddler(options.corruptDownstreamAt, options.pauseDownstreamAfter, onPause)).pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, connections: () => accepted, paused, upstreamBytes: () => upstreamBytes, openSockets: () => sockets.size };
}
