/**
 * The first exchange on a connection: the client's HELLO names the protocol and
 * the version it speaks; the server answers WELCOME with its capabilities and
 * the largest frame it takes, or refuses a client it cannot talk to.
 */

import { ferryError } from '../protocol/errors.js';
import { FrameType, parseJsonPayload, type Frame } from '../protocol/frames.js';
import { CAPABILITIES, PROTOCOL_NAME, PROTOCOL_VERSION, parseHello, type Welcome } from '../protocol/messages.js';
import type { FrameChannel } from '../transport/channel.js';

/** Answers the connection's first frame with WELCOME; throws when it is not a HELLO this server understands. */
export async function welcome(channel: FrameChannel, frame: Frame, server: { agent: string; maxFrameBytes: number }): Promise<void> {
  if (frame.type !== FrameType.HELLO) {
    throw ferryError('BAD_FRAME', 'this is a Ferry server: connect with the ferry client (the first frame must be HELLO)');
  }
  const hello = parseHello(parseJsonPayload(frame));
  if (hello.protocol !== PROTOCOL_NAME || hello.version !== PROTOCOL_VERSION) {
    throw ferryError(
      'UNSUPPORTED_VERSION',
      `this server speaks ${PROTOCOL_NAME} protocol version ${PROTOCOL_VERSION}, the client ${hello.protocol} version ${hello.version}; install a matching ferry client`,
    );
  }
  const answer: Welcome = {
    protocol: PROTOCOL_NAME,
    version: PROTOCOL_VERSION,
    capabilities: [...CAPABILITIES],
    agent: server.agent,
    maxFrameBytes: server.maxFrameBytes,
  };
  await channel.sendJson(FrameType.WELCOME, 0, answer);
}
