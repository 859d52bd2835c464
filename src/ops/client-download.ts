/**
 * The single-file client (dist/client/ferry.mjs, made by `npm run build`) offered
 * for download on the ops HTTP port, so another computer with Node can fetch the
 * client from the server it is about to use. Its SHA-256 goes into the start-up
 * lines, which the operator sees on a channel the download does not pass through.
 */

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';

/** Where the build writes the bundle: relative to this module's compiled file. */
export const CLIENT_BUNDLE_FILE = fileURLToPath(new URL('../../client/ferry.mjs', import.meta.url));
export const CLIENT_DOWNLOAD_PATH = '/client/ferry.mjs';

export interface ClientDownload {
  path: string;
  body: Buffer;
  sha256: string;
}

/** Reads the bundle once at start; undefined (and a warning) when this build has none. */
export async function loadClientDownload(logger: Logger, file = CLIENT_BUNDLE_FILE): Promise<ClientDownload | undefined> {
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch (error) {
    logger.warn({ event: 'client-download-missing', file, err: error }, `no single-file client to offer at ${CLIENT_DOWNLOAD_PATH} (${file} is missing; npm run build makes it)`);
    return undefined;
  }
  return { path: CLIENT_DOWNLOAD_PATH, body, sha256: createHash('sha256').update(body).digest('hex') };
}

/**
 * The start-up line: where another device gets the client, and the digest to check
 * it against. An ops port bound to every interface is named by the LAN addresses.
 */
export function announceClientDownload(logger: Logger, download: ClientDownload, ops: AddressInfo, lanHosts: string[]): void {
  const everywhere = ops.address === '0.0.0.0' || ops.address === '::';
  const hosts = everywhere && lanHosts.length > 0 ? lanHosts : [ops.address];
  const urls = hosts.map((host) => `http://${host.includes(':') ? `[${host}]` : host}:${ops.port}${download.path}`);
  logger.info(
    { event: 'client-download', path: download.path, bytes: download.body.length, sha256: download.sha256, urls },
    `the client for other computers (needs Node.js 20.19 or newer): ${urls.join(' or ')} (SHA-256 ${download.sha256}); run it as: node ferry.mjs --help`,
  );
}
