/**
 * Pipes through the real CLI: `tar c | ferry upload - NAME` and
 * `ferry download NAME -o - | tar x`, on both storage backends; a cut
 * connection leaves nothing under the name and says stdin cannot be replayed;
 * limits refuse a stream as it passes them; a server without the "put-stream"
 * capability is refused by the client with a clear message.
 */

import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { FrameType, parseJsonPayload } from '../../src/protocol/frames.js';
import { PROTOCOL_NAME, PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { FrameChannel } from '../../src/transport/channel.js';
import { FERRY_BIN, ferry, type RunResult } from '../helpers/cli.js';
import { randomFile, sha256, sha256File, tempDir } from '../helpers/files.js';
import { startProxy } from '../helpers/proxy.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { BACKENDS } from '../helpers/stored.js';
import { eventually, withTools } from '../helpers/tools.js';

/** Runs a shell pipeline in which `ferry` is the built CLI. */
function pipeline(script: string, env: Record<string, string>, cwd: string): Promise<RunResult> {
  const child = spawn('bash', ['-o', 'pipefail', '-c', `ferry() { "$FERRY_NODE" "$FERRY_BIN" "$@"; }\n${script}`], {
    cwd,
    env: { ...process.env, FERRY_NODE: process.execPath, FERRY_BIN, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'photos', '2024'), { recursive: true });
  await randomFile(join(root, 'photos', '2024', 'big.raw'), 3 * 1024 * 1024 + 17);
  await writeFile(join(root, 'photos', 'notes.txt'), 'bytes that look like a marker: <EOF>\n');
  await writeFile(join(root, 'empty'), '');
}

async function spooled(server: TestServer): Promise<string[]> {
  return (await readdir(join(server.dataDir, 'tmp')).catch(() => [] as string[])).filter((name) => name.startsWith('stream-'));
}

for (const backend of BACKENDS) {
  withTools('tar')(`${backend}: tar c | ferry upload - NAME, then ferry download NAME -o - | tar x, gives back the same tree`, async (t) => {
    const server = await startServer(t, { backend });
    const work = await tempDir(t);
    await makeTree(join(work, 'src'));
    const up = await pipeline('tar c -C src photos empty | ferry upload - backups/tree.tar', server.env, work);
    t.is(up.code, 0, up.stderr);
    t.regex(up.stdout, /uploaded standard input -> \/backups\/tree\.tar/);
    await mkdir(join(work, 'out'));
    const down = await pipeline('ferry download backups/tree.tar -o - | tar x -C out', server.env, work);
    t.is(down.code, 0, down.stderr);
    for (const file of ['photos/2024/big.raw', 'photos/notes.txt', 'empty']) {
      t.is(await sha256File(join(work, 'out', file)), await sha256File(join(work, 'src', file)), file);
    }
    t.deepEqual(await spooled(server), [], 'the spool holds nothing once the upload is stored');
  });

  withTools('tar')(`${backend}: a connection cut in the middle of standard input leaves the name as it was (the old file, whole), and ferry exits 5 saying stdin cannot be replayed`, async (t) => {
    const server = await startServer(t, { backend });
    const proxy = await startProxy(t, server.port, { cuts: [600_000] });
    const work = await tempDir(t);
    await randomFile(join(work, 'big.bin'), 8 * 1024 * 1024);
    const env = { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` };
    await server.stored.write('cut.bin', 'the old file');
    const result = await pipeline('tar c big.bin | ferry upload - cut.bin', env, work);
    t.is(result.code, 5, result.stderr);
    t.regex(result.stderr, /nothing was stored under \/cut\.bin/);
    t.regex(result.stderr, /Standard input cannot be read again/);
    t.is(proxy.connections(), 1, 'no retry: the input is gone');
    t.is((await server.stored.read('cut.bin'))?.toString(), 'the old file', 'the name still holds the old file, whole');
    await eventually(async () => ((await spooled(server)).length === 0 ? true : undefined), 10_000);
    t.deepEqual(await spooled(server), [], 'the spool file of the cut stream is gone');
  });
}

test('a download to standard output cut midway resumes after the bytes already written, verified end to end', async (t) => {
  const server = await startServer(t);
  await server.stored.writeRandom('movie.bin', 5 * 1024 * 1024);
  const proxy = await startProxy(t, server.port, { cuts: [1_500_000] });
  const work = await tempDir(t);
  const env = { ...server.env, FERRY_SERVER: `127.0.0.1:${proxy.port}` };
  const result = await pipeline('ferry download movie.bin -o - > copy.bin', env, work);
  t.is(result.code, 0, result.stderr);
  t.is(proxy.connections(), 2);
  t.is(await server.stored.sha256('movie.bin'), sha256(await readFile(join(work, 'copy.bin'))));
});

test('a reader that stops early (download -o - | head -c) ends ferry quietly with exit code 0', async (t) => {
  const server = await startServer(t);
  await server.stored.writeRandom('movie.bin', 8 * 1024 * 1024);
  const work = await tempDir(t);
  const result = await pipeline('ferry download movie.bin -o - | head -c 1000 > first.bin', server.env, work);
  t.is(result.code, 0, result.stderr);
  t.is(result.stderr, '');
  t.is((await readFile(join(work, 'first.bin'))).length, 1000);
});

test('a stream past the largest file the server accepts is refused as it arrives; nothing is stored', async (t) => {
  const server = await startServer(t, { limits: { maxFileSize: 100_000 } });
  const work = await tempDir(t);
  await randomFile(join(work, 'big.bin'), 2 * 1024 * 1024);
  const result = await pipeline('cat big.bin | ferry upload - too-big.bin', server.env, work);
  t.not(result.code, 0);
  t.regex(result.stderr, /passed 100000 bytes, the largest file this server accepts; nothing was saved/);
  t.is(await server.stored.sha256('too-big.bin'), undefined);
  t.deepEqual(await spooled(server), []);
});

test('a stream past the user quota is refused with exit code 7; nothing is stored', async (t) => {
  const server = await startServer(t, { limits: { defaultQuota: 50_000 } });
  const work = await tempDir(t);
  await randomFile(join(work, 'big.bin'), 1024 * 1024);
  const result = await pipeline('cat big.bin | ferry upload - over.bin', server.env, work);
  t.is(result.code, 7, result.stderr);
  t.regex(result.stderr, /quota/);
  t.is(await server.stored.sha256('over.bin'), undefined);
});

test('upload - keeps --no-clobber, and refuses --password-stdin (stdin carries the data)', async (t) => {
  const server = await startServer(t);
  await server.stored.write('kept.txt', 'old');
  const kept = await ferry(['upload', '--no-clobber', '-', 'kept.txt'], { env: server.env, input: 'new' });
  t.not(kept.code, 0);
  t.is((await server.stored.read('kept.txt'))?.toString(), 'old');
  const stdin = await ferry(['--password-stdin', 'upload', '-', 'x.txt'], { env: { ...server.env, FERRY_PASSWORD: '' }, input: 'data' });
  t.is(stdin.code, 2);
  t.regex(stdin.stderr, /cannot carry the password too/);
  const noName = await ferry(['upload', '-'], { env: server.env, input: 'data' });
  t.is(noName.code, 2);
  t.regex(noName.stderr, /give exactly one remote file name after "-"/);
});

test('download FILE -o NAME saves the file as NAME, even when NAME also names a remote file', async (t) => {
  const server = await startServer(t);
  await server.stored.write('a.txt', 'alpha');
  await server.stored.write('b.txt', 'beta');
  const work = await tempDir(t);
  const result = await ferry(['download', 'a.txt', '-o', 'b.txt'], { env: server.env, cwd: work });
  t.is(result.code, 0, result.stderr);
  t.is(await readFile(join(work, 'b.txt'), 'utf8'), 'alpha');
  t.deepEqual(await readdir(work), ['b.txt']);
  const two = await ferry(['download', 'a.txt', 'b.txt', '-o', 'x.txt'], { env: server.env, cwd: work });
  t.is(two.code, 2);
  t.regex(two.stderr, /-o names where one remote file goes/);
});

test('download -o - of a missing file exits 4 and writes nothing to standard output', async (t) => {
  const server = await startServer(t);
  const result = await ferry(['download', 'nope.tar', '-o', '-'], { env: server.env });
  t.is(result.code, 4, result.stderr);
  t.is(result.stdout, '');
});

/** A server of the protocol before streamed uploads (plain TCP, as such servers ran): it logs anyone in and lists no "put-stream". */
async function startOldServer(t: ExecutionContext): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    const channel = new FrameChannel(socket, { maxFrameBytes: 4 * 1024 * 1024 });
    void (async () => {
      await channel.next(); // HELLO
      await channel.sendJson(FrameType.WELCOME, 0, {
        protocol: PROTOCOL_NAME,
        version: PROTOCOL_VERSION,
        capabilities: ['pipelining', 'resume-download', 'recursive-list', 'no-clobber'],
        agent: 'ferry-server/0.0.9',
        maxFrameBytes: 4 * 1024 * 1024,
      });
      for (;;) {
        const frame = await channel.next();
        if (frame === undefined) break;
        const request = parseJsonPayload(frame) as { op: string };
        if (request.op === 'login') await channel.sendJson(FrameType.OK, frame.id, { user: 'admin', home: '/', permissions: ['list', 'read', 'write', 'delete'] });
        else await channel.sendJson(FrameType.OK, frame.id, {});
        if (request.op === 'quit') await channel.end();
      }
    })().catch(() => socket.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

test('a server without the "put-stream" capability is not sent a stream: the client says what is missing and what to do', async (t) => {
  const port = await startOldServer(t);
  const result = await ferry(['upload', '-', 'backup.tar'], { env: { FERRY_SERVER: `127.0.0.1:${port}`, FERRY_USER: 'admin', FERRY_PASSWORD: 'x', FERRY_TLS: 'false' }, input: 'some data' });
  t.is(result.code, 5, result.stderr);
  t.regex(result.stderr, /does not take uploads of unknown length \(it lacks the "put-stream" capability\); upgrade the server, or save the input to a file first/);
});
