/**
 * Two "devices" on one machine: network namespaces joined by a veth pair, each
 * with its own address and a default route (so multicast, and with it mDNS,
 * works as on a real LAN). Removed when the test ends, even on failure.
 */

import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TwoDevices {
  server: { ns: string; ip: string };
  client: { ns: string; ip: string };
  /** Runs a command inside a namespace. */
  exec(ns: string, command: string, args: string[]): Promise<{ stdout: string; stderr: string }>;
}

let made = 0;

export async function twoDevices(t: ExecutionContext): Promise<TwoDevices> {
  const id = `${process.pid % 10000}x${made++}`;
  const subnet = `10.${80 + (made % 40)}.${process.pid % 250}`;
  const server = { ns: `ferry-s${id}`, ip: `${subnet}.1`, link: `fs${id}` };
  const client = { ns: `ferry-c${id}`, ip: `${subnet}.2`, link: `fc${id}` };
  const ip = (...args: string[]) => run('ip', args);
  t.teardown(async () => {
    await ip('netns', 'del', server.ns).catch(() => undefined);
    await ip('netns', 'del', client.ns).catch(() => undefined);
  });
  await ip('netns', 'add', server.ns);
  await ip('netns', 'add', client.ns);
  await ip('link', 'add', server.link, 'netns', server.ns, 'type', 'veth', 'peer', 'name', client.link, 'netns', client.ns);
  for (const side of [server, client]) {
    await ip('-n', side.ns, 'link', 'set', 'lo', 'up');
    await ip('-n', side.ns, 'addr', 'add', `${side.ip}/24`, 'dev', side.link);
    await ip('-n', side.ns, 'link', 'set', side.link, 'up');
    await ip('-n', side.ns, 'route', 'add', 'default', 'dev', side.link);
  }
  return {
    server: { ns: server.ns, ip: server.ip },
    client: { ns: client.ns, ip: client.ip },
    exec: (ns, command, args) => run('ip', ['netns', 'exec', ns, command, ...args]),
  };
}
