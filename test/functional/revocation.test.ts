import test from 'ava';
import { connect } from 'node:net';
import { once } from 'node:events';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { hashPassword } from '../../src/auth/password.js';
import type { UploadSource } from '../../src/client/client.js';
import { FerryError } from '../../src/protocol/errors.js';
import { FrameType, parseJsonPayload } from '../../src/protocol/frames.js';
import { CAPABILITIES, PROTOCOL_NAME, PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { FrameChannel } from '../../src/transport/channel.js';
import { ferryServer, startFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { ADMIN, spawnServer, startServer } from '../helpers/server.js';
import { eventually } from '../helpers/tools.js';

const CAROL = { user: 'carol', password: 'carol-password' };

function bytes(data: Buffer): UploadSource {
  return { size: data.length, open: () => Readable.from([data]) };
}

/** A logged-in connection spoken frame by frame, to see what the server sends unprompted. */
async function rawSession(port: number, credentials: { user: string; password: string }): Promise<FrameChannel> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const channel = new FrameChannel(socket, { maxFrameBytes: 4 * 1024 * 1024 });
  await channel.sendJson(FrameType.HELLO, 0, { protocol: PROTOCOL_NAME, version: PROTOCOL_VERSION, capabilities: [...CAPABILITIES], agent: 'revocation-test' });
  await channel.next();
  await channel.sendJson(FrameType.REQUEST, 1, { op: 'login', ...credentials });
  const answer = await channel.next();
  if (answer?.type !== FrameType.OK) throw new Error(`login refused: ${JSON.stringify(answer && parseJsonPayload(answer))}`);
  return channel;
}

/** The next frame the server sends on its own, and whether the connection then closes. */
async function unprompted(channel: FrameChannel): Promise<{ type: number | undefined; id: number | undefined; code: unknown; message: unknown; closed: boolean }> {
  const frame = await channel.next();
  const payload = frame ? (parseJsonPayload(frame) as { code?: unknown; message?: unknown }) : {};
  const closed = (await channel.next().catch(() => undefined)) === undefined;
  return { type: frame?.type, id: frame?.id, code: payload.code, message: payload.message, closed };
}

/** Rewrites the users file as a hand edit would: a new file renamed over the old one. */
async function editUser(path: string, change: (record: Record<string, unknown>) => void): Promise<void> {
  const file = JSON.parse(await readFile(path, 'utf8')) as { users: Record<string, Record<string, unknown>> };
  change(file.users.carol as Record<string, unknown>);
  await writeFile(`${path}.edit`, JSON.stringify(file));
  await rename(`${path}.edit`, path);
}

test('removing a user ends their live session at once, in the middle of a download, with SESSION_REVOKED', async (t) => {
  const server = await startServer(t, { limits: { bandwidthLimit: 256 * 1024 } });
  await server.addUser(CAROL.user, CAROL.password);
  await writeFile(join(server.filesDir, 'big.bin'), Buffer.alloc(4 * 1024 * 1024, 7));
  const carol = await server.connect(CAROL);
  let started: () => void = () => undefined;
  const firstBytes = new Promise<void>((resolve) => (started = resolve));
  const download = carol.download('/big.bin', { write: async () => started() });
  await firstBytes;
  const before = Date.now();
  await server.users.remove(CAROL.user);
  const error = await t.throwsAsync(download);
  t.true(error instanceof FerryError && error.code === 'SESSION_REVOKED', String(error));
  t.regex(error?.message ?? '', /the account carol was removed; this session has ended/);
  t.true(Date.now() - before < 5_000, 'cut at once, not after the 16 s the download would take');
});

test('the CLI whose user is removed mid-download stops with exit code 3 and says why', async (t) => {
  const server = await startServer(t, { limits: { bandwidthLimit: 256 * 1024 } });
  await server.addUser(CAROL.user, CAROL.password);
  await writeFile(join(server.filesDir, 'big.bin'), Buffer.alloc(4 * 1024 * 1024, 7));
  const local = await tempDir(t);
  const env = { FERRY_SERVER: `127.0.0.1:${server.port}`, FERRY_USER: CAROL.user, FERRY_PASSWORD: CAROL.password };
  const running = startFerry(['download', '/big.bin', '-d', local], { env });
  // The part file appears once the CLI has logged in and the download began.
  const part = join(local, '.big.bin.ferry-part');
  await eventually(async () => ((await stat(part).catch(() => undefined)) ? true : undefined), 30_000, 50);
  await server.users.remove(CAROL.user);
  const result = await running.result;
  t.is(result.code, 3, result.stderr);
  t.regex(result.stderr, /the account carol was removed; this session has ended/);
});

test('changing a password ends the user\'s live sessions at once, unprompted, and the new password logs in', async (t) => {
  const server = await startServer(t, { tls: false });
  await server.addUser(CAROL.user, CAROL.password);
  const channel = await rawSession(server.port, CAROL);
  const other = await server.connect();
  const env = { FERRY_USERS_FILE: server.users.path, FERRY_DATA_DIR: server.dataDir };
  const changed = await ferryServer(['user', 'passwd', 'carol', '--password-stdin'], { env, input: 'carol-password-2\n' });
  t.is(changed.code, 0, changed.stderr);
  const said = await unprompted(channel);
  t.like(said, { type: FrameType.ERROR, id: 0, code: 'SESSION_REVOKED', closed: true });
  t.regex(String(said.message), /the password of carol was changed; log in again with the new one/);
  t.truthy(await server.connect({ user: 'carol', password: 'carol-password-2' }));
  t.deepEqual((await other.list('/')).length, 0, "another user's session is untouched");
});

test('a hand edit that puts a new hash in the users file ends the user\'s live sessions too', async (t) => {
  const server = await startServer(t, { tls: false });
  await server.addUser(CAROL.user, CAROL.password);
  const channel = await rawSession(server.port, CAROL);
  const hash = await hashPassword('set-by-hand');
  await editUser(server.users.path, (record) => (record.password = hash));
  t.like(await unprompted(channel), { type: FrameType.ERROR, id: 0, code: 'SESSION_REVOKED', closed: true });
});

test('lowered permissions, a new home and a lower quota apply to the next request of a live session, which goes on', async (t) => {
  const server = await startServer(t);
  await server.addUser(CAROL.user, CAROL.password);
  const admin = await server.connect();
  await admin.mkdir('/carol');
  await admin.mkdir('/elsewhere');
  const carol = await server.connect(CAROL);
  const small = (text: string): UploadSource => bytes(Buffer.from(text));
  await carol.upload('/carol/one.txt', small('one'));

  await editUser(server.users.path, (record) => (record.quota = 10));
  const overQuota = await eventually(async () => {
    const error = await carol.upload('/carol/two.txt', small('x'.repeat(100))).then(() => undefined, (failure: unknown) => failure);
    return error instanceof FerryError && error.code === 'QUOTA_EXCEEDED' ? error : undefined;
  }, 10_000);
  t.is(overQuota.code, 'QUOTA_EXCEEDED');

  await editUser(server.users.path, (record) => (record.home = '/carol'));
  const listing = await eventually(async () => {
    const names = (await carol.list('/')).map((entry) => entry.name);
    return names.includes('one.txt') ? names : undefined;
  }, 10_000);
  t.false(listing.includes('elsewhere'), 'the new home is the root of the session now');
  t.is((await carol.stat('/one.txt')).size, 3);

  await editUser(server.users.path, (record) => (record.permissions = ['list']));
  const denied = await eventually(async () => {
    const error = await carol.download('/one.txt', { write: async () => undefined }).then(() => undefined, (failure: unknown) => failure);
    return error instanceof FerryError ? error : undefined;
  }, 10_000);
  t.is(denied.code, 'PERMISSION_DENIED');
  t.true((await carol.list('/')).some((entry) => entry.name === 'one.txt'), 'the same session still lists');
});

test('in a cluster, removing a user with ferry-server ends their session on whichever worker holds it', async (t) => {
  const dataDir = await tempDir(t);
  const server = await spawnServer(t, { FERRY_DATA_DIR: dataDir, FERRY_ADMIN_PASSWORD: ADMIN.password, FERRY_WORKERS: '2', FERRY_TLS: 'false' });
  await server.waitForLog((line) => line.event === 'workers-ready');
  const env = { FERRY_DATA_DIR: dataDir };
  t.is((await ferryServer(['user', 'add', 'carol', '--password-stdin'], { env, input: `${CAROL.password}\n` })).code, 0);
  // Several sessions, so both workers very likely hold one.
  const channels = await eventually(async () => Promise.all(Array.from({ length: 4 }, () => rawSession(server.port, CAROL))), 10_000);
  const removed = await ferryServer(['user', 'remove', 'carol'], { env });
  t.is(removed.code, 0, removed.stderr);
  const said = await Promise.all(channels.map((channel) => unprompted(channel)));
  for (const one of said) t.like(one, { type: FrameType.ERROR, id: 0, code: 'SESSION_REVOKED', closed: true });
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});
