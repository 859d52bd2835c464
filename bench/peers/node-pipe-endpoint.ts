/**
 * One end of the minimal Node pipe (run as its own process by node-pipe.ts):
 * read stream -> socket -> write stream, default buffers, no hashing, no fsync.
 *
 *   node node-pipe-endpoint.js listen|connect send|recv PORT PATH
 *
 * A file is piped as is. A folder (the small-files workloads) is framed as
 * [u32 path length][path][u64 size][bytes] per file, the least a stream of many
 * files needs. The receiving end closes the connection once everything is written,
 * and the sending end exits when it sees that close.
 */

import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

async function* filesOf(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* filesOf(path);
    else yield path;
  }
}

async function* framesOf(root: string): AsyncGenerator<Buffer> {
  const top = dirname(root);
  for await (const file of filesOf(root)) {
    const name = Buffer.from(relative(top, file));
    const data = await readFile(file);
    const header = Buffer.alloc(4 + name.length + 8);
    header.writeUInt32BE(name.length, 0);
    name.copy(header, 4);
    header.writeBigUInt64BE(BigInt(data.length), 4 + name.length);
    yield Buffer.concat([header, data]);
  }
}

async function send(socket: Socket, path: string): Promise<void> {
  const closed = new Promise((resolve) => socket.once('close', resolve));
  if ((await stat(path)).isDirectory()) await pipeline(Readable.from(framesOf(path)), socket);
  else await pipeline(createReadStream(path), socket);
  await closed;
}

/** Receives a plain file (when `dest` names one) or framed files under the folder `dest`. */
async function receive(socket: Socket, dest: string, framed: boolean): Promise<void> {
  if (!framed) {
    await pipeline(socket, createWriteStream(dest));
    socket.destroy();
    return;
  }
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of socket as AsyncIterable<Buffer>) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      if (pending.length < 4) break;
      const nameLength = pending.readUInt32BE(0);
      if (pending.length < 4 + nameLength + 8) break;
      const size = Number(pending.readBigUInt64BE(4 + nameLength));
      const end = 4 + nameLength + 8 + size;
      if (pending.length < end) break;
      const file = join(dest, pending.subarray(4, 4 + nameLength).toString());
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, pending.subarray(4 + nameLength + 8, end));
      pending = pending.subarray(end);
    }
  }
  if (pending.length > 0) throw new Error(`the stream ended inside a file (${pending.length} bytes left)`);
  socket.destroy();
}

async function main(): Promise<void> {
  const [role, direction, portText, path] = process.argv.slice(2);
  const port = Number(portText);
  if (!path || !['listen', 'connect'].includes(role ?? '') || !['send', 'recv'].includes(direction ?? '')) {
    throw new Error('usage: node-pipe-endpoint listen|connect send|recv PORT PATH');
  }
  const socket = await new Promise<Socket>((resolve, reject) => {
    if (role === 'connect') {
      const client = connect({ host: '127.0.0.1', port }, () => resolve(client));
      client.once('error', reject);
      return;
    }
    const server = createServer((accepted) => {
      server.close();
      resolve(accepted);
    });
    server.once('error', reject);
    server.listen(port, '127.0.0.1');
  });
  if (direction === 'send') {
    await send(socket, path);
    return;
  }
  // A receiving folder (its path ends in /) means framed files; anything else is the file itself.
  await receive(socket, path, path.endsWith('/'));
}

main().catch((error: unknown) => {
  process.stderr.write(`node-pipe-endpoint: ${(error as Error).message}\n`);
  process.exit(1);
});
