/**
 * The one way the server says a request or a connection failed: an ERROR frame
 * holding the error's stable code and its message. Id 0 speaks of the
 * connection as a whole (a timeout, a broken frame, a full server).
 */

import type { FerryError } from '../protocol/errors.js';
import { FrameType, encodeJsonFrame } from '../protocol/frames.js';
import { errorMessageOf } from '../protocol/messages.js';
import type { FrameChannel } from '../transport/channel.js';

/** Answers request `id` (0: the connection) with `error`. */
export async function sendError(channel: FrameChannel, id: number, error: FerryError): Promise<void> {
  await channel.sendJson(FrameType.ERROR, id, errorMessageOf(error));
}

/** The ERROR frame for a connection no session serves (refused at the door), to write on its bare socket. */
export function connectionErrorFrame(error: FerryError): Buffer {
  return encodeJsonFrame(FrameType.ERROR, 0, errorMessageOf(error));
}
