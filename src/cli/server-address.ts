/**
 * Parsing `-s HOST[:PORT]`: a name, an IPv4 address, or an IPv6 address (in
 * brackets when a port follows, as in URLs).
 */

import { isIPv6 } from 'node:net';
import { ferryError } from '../protocol/errors.js';

export const DEFAULT_PORT = 8080;

export interface ServerAddress {
  host: string;
  port: number;
}

function parsePort(text: string, input: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw ferryError('USAGE', `"${input}": the port must be a number from 1 to 65535`);
  return port;
}

export function parseServerAddress(input: string): ServerAddress {
  const text = input.trim();
  if (text === '') throw ferryError('USAGE', 'the server address is empty; use HOST or HOST:PORT');
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    const host = bracketed[1] as string;
    if (!isIPv6(host)) throw ferryError('USAGE', `"${input}": only an IPv6 address goes in brackets`);
    return { host, port: bracketed[2] === undefined ? DEFAULT_PORT : parsePort(bracketed[2], input) };
  }
  if (text.split(':').length > 2) {
    if (!isIPv6(text)) throw ferryError('USAGE', `"${input}" is not HOST[:PORT]; write an IPv6 address with a port as [ADDRESS]:PORT`);
    return { host: text, port: DEFAULT_PORT };
  }
  const [host, port] = text.split(':') as [string, string | undefined];
  if (host === '' || /[\s/\\@]/.test(host)) throw ferryError('USAGE', `"${input}" is not a host name or address`);
  return { host, port: port === undefined ? DEFAULT_PORT : parsePort(port, input) };
}

export function formatServerAddress({ host, port }: ServerAddress): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
