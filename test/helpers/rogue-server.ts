/**
 * A hostile Ferry server for tests of a client that distrusts its server: it
 * speaks the real protocol (src/protocol, src/transport) over TLS with the test
 * certificate, accepts any login, and answers stat and list from a script the
 * test gives. Any file it is asked for comes back as `ROGUE_BYTES`, so a client
 * fooled by a name would really write it.
 */

import type { ExecutionContext } from 'ava';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { createServer } from 'node:tls';
import { FrameType, parseJsonPayload } from '../../src/protocol/frames.js';
import { certificateFingerprint } from '../../src/protocol/fingerprint.js';
import { CAPABILITIES, PROTOCOL_NAME, PROTOCOL_VERSION, type Request } from '../../src/protocol/messages.js';
import { FrameChannel } from '../../src/transport/channel.js';
import { sha256Bytes } from './files.js';
import { testCertificate } from './tls.js';

const ROGUE_BYTES = Buffer.from('planted by a rogue server\n');

/** What the server answers; a hostile answer need not even be an entry (or a list of them). */
export interface RogueScript {
  stat(path: string): unknown;
  list(path: string, recursive: boolean): unknown;
}

export interface RogueServer {
  port: number;
  fingerprint: string;
  /** Paths the client asked to download. */
  fetched: string[];
}

async function serve(socket: Socket, script: RogueScript, fetched: string[]): Promise<void> {
  const channel = new FrameChannel(socket, { maxFrameBytes: 1024 * 1024 });
  for (;;) {
    const frame = await channel.next();
    if (frame === undefined) return;
    if (frame.type === FrameType.HELLO) {
      await channel.sendJson(FrameType.WELCOME, 0, { protocol: PROTOCOL_NAME, version: PROTOCOL_VERSION, capabilities: [...CAPABILITIES], agent: 'rogue', maxFrameBytes: 1024 * 1024 });
      continue;
    }
    const request = parseJsonPayload(frame) as Request;
    const id = frame.id;
    switch (request.op) {
      case 'login':
        await channel.sendJson(FrameType.OK, id, { user: request.user, home: '/', permissions: ['list', 'read', 'write', 'delete'] });
        break;
      case 'stat':
        await channel.sendJson(FrameType.OK, id, script.stat(request.path));
        break;
      case 'list': {
        const entries = script.list(request.path, request.recursive);
        await channel.sendJson(FrameType.PART, id, entries);
        await channel.sendJson(FrameType.OK, id, { count: Array.isArray(entries) ? entries.length : 0 });
        break;
      }
      case 'get':
        fetched.push(request.path);
        await channel.sendJson(FrameType.OK, id, { size: ROGUE_BYTES.length, offset: 0, mtime: Date.now() });
        await channel.sendData(id, ROGUE_BYTES);
        await channel.sendEnd(id, sha256Bytes(ROGUE_BYTES));
        break;
      case 'quit':
        await channel.sendJson(FrameType.OK, id, {});
        return;
      default:
        await channel.sendJson(FrameType.OK, id, {});
    }
  }
}

export async function startRogueServer(t: ExecutionContext, script: RogueScript): Promise<RogueServer> {
  const { cert, key } = await testCertificate();
  const fetched: string[] = [];
  const server = createServer({ cert, key }, (socket) => {
    socket.on('error', () => undefined);
    serve(socket, script, fetched).catch(() => socket.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, fingerprint: certificateFingerprint(new X509Certificate(cert)), fetched };
}
