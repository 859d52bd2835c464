/**
 * A TCP proxy on loopback that the test controls: it forwards both directions
 * and can flip one byte at a chosen offset of either direction, to prove that
 * corruption in transit is caught.
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
}

export interface Proxy {
  port: number;
  /** Connections accepted so far. */
  connections(): number;
}

class ByteFlipper extends Transform {
  private seen = 0;

  constructor(private readonly at: number | undefined) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const at = this.at;
    if (at !== undefined && at >= this.seen && at < this.seen + chunk.length) {
      const copy = Buffer.from(chunk);
      copy[at - this.seen] = (copy[at - this.seen] as number) ^ 0xff;
      chunk = copy;
    }
    this.seen += chunk.length;
    done(null, chunk);
  }
}

export async function startProxy(t: ExecutionContext, targetPort: number, options: ProxyOptions): Promise<Proxy> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((client) => {
    const cutAfter = options.cuts?.[accepted++];
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    if (cutAfter !== undefined) {
      let moved = 0;
      const count = (chunk: Buffer): void => {
        moved += chunk.length;
        if (moved >= cutAfter) {
          client.destroy();
          upstream.destroy();
        }
      };
      client.on('data', count);
      upstream.on('data', count);
    }
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(new ByteFlipper(options.corruptUpstreamAt)).pipe(upstream);
    upstream.pipe(new ByteFlipper(options.corruptDownstreamAt)).pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, connections: () => accepted };
}
