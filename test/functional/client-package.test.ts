/**
 * The client away from the checkout: the packed npm package installed into an empty
 * prefix, the single-file client alone in a folder, the copy the server offers on
 * its ops port, and the single executable with no node at all, each moving a file
 * to a real server and back.
 */

import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { chmod, copyFile, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { get, type IncomingMessage } from 'node:http';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CLIENT_PACKAGE_NAME, installClient, packClient } from '../../build/client-package.js';
import { buildSingleExecutable } from '../../build/sea.js';
import { CLIENT_BUNDLE_FILE, CLIENT_DOWNLOAD_PATH } from '../../src/ops/client-download.js';
import { VERSION } from '../../src/version.js';
import { randomFile, sha256, sha256File, tempDir } from '../helpers/files.js';
import { twoDevices } from '../helpers/netns.js';
import { ADMIN, startServer, spawnServer, type TestServer } from '../helpers/server.js';
import { withTools } from '../helpers/tools.js';

const execute = promisify(execFile);
const INSTALLED_SIZE_LIMIT = 40 * 1024 * 1024;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a client command in `cwd` with nothing of the checkout in reach: PATH holds
 * only `paths`, and no NODE_PATH or NODE_OPTIONS leaks in.
 */
async function runClient(command: string, args: string[], cwd: string, paths: string[], env: Record<string, string> = {}): Promise<Result> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(npm_|NODE_|FERRY_)/i.test(key) && key !== 'PATH'));
  try {
    const { stdout, stderr } = await execute(command, args, {
      cwd,
      env: { ...inherited, ...env, PATH: paths.join(delimiter) },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? String(error) };
  }
}

/** Uploads a fresh file with `client`, downloads it into another folder, and checks both ends. */
async function roundTrip(t: ExecutionContext, server: TestServer, client: (args: string[], cwd: string) => Promise<Result>, cwd: string): Promise<void> {
  const original = join(cwd, 'outbound.bin');
  await randomFile(original, 300_000);
  const up = await client(['upload', 'outbound.bin', '-d', '/carried'], cwd);
  t.is(up.code, 0, up.stderr);
  t.is(await server.stored.sha256('carried/outbound.bin'), await sha256File(original));
  const back = join(cwd, 'back');
  await mkdir(back);
  const down = await client(['download', '/carried/outbound.bin', '-d', back], cwd);
  t.is(down.code, 0, down.stderr);
  t.is(await sha256File(join(back, 'outbound.bin')), await sha256File(original));
}

/** The status of a GET whose path goes on the wire exactly as given. */
async function rawGetStatus(port: number, path: string): Promise<number | undefined> {
  const request = get({ host: '127.0.0.1', port, path });
  const [response] = (await once(request, 'response')) as [IncomingMessage];
  response.resume();
  return response.statusCode;
}

/** Bytes that the files under `dir` take, and how many package.json files (packages) it holds. */
async function footprint(dir: string): Promise<{ bytes: number; packages: number }> {
  let bytes = 0;
  let packages = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    bytes += (await stat(join(entry.parentPath, entry.name))).size;
    if (entry.name === 'package.json') packages += 1;
  }
  return { bytes, packages };
}

test('the packed client installs offline into an empty prefix far from the checkout, prints its version, and round-trips a file', async (t) => {
  const home = await tempDir(t, 'ferry-install-');
  const elsewhere = join(home, 'elsewhere');
  await mkdir(elsewhere);
  const tarball = await packClient(home);
  t.is(tarball, join(home, `ferry-${VERSION}.tgz`));
  const prefix = join(home, 'prefix');
  const ferry = await installClient(tarball, prefix, elsewhere);

  const installed = await footprint(prefix);
  t.is(installed.packages, 1, 'the client brings no dependencies');
  t.true((await stat(join(prefix, 'lib', 'node_modules', CLIENT_PACKAGE_NAME, 'package.json'))).isFile());
  t.true(installed.bytes < INSTALLED_SIZE_LIMIT, `${installed.bytes} bytes installed`);

  // As a shell finds it: the installed `ferry`, and node for its #! line.
  const path = [dirname(ferry), dirname(process.execPath)];
  const version = await runClient('ferry', ['--version'], elsewhere, path);
  t.is(version.code, 0, version.stderr);
  t.is(version.stdout, `${VERSION}\n`);

  const server = await startServer(t);
  await roundTrip(t, server, (args, cwd) => runClient('ferry', args, cwd, path, server.env), elsewhere);
});

test('the single-file client copied alone into an empty folder round-trips a file', async (t) => {
  const alone = await tempDir(t, 'ferry-alone-');
  await copyFile(CLIENT_BUNDLE_FILE, join(alone, 'ferry.mjs'));
  t.deepEqual(await readdir(alone), ['ferry.mjs']);
  const server = await startServer(t);
  await roundTrip(t, server, (args, cwd) => runClient(process.execPath, [join(alone, 'ferry.mjs'), ...args], cwd, [], server.env), alone);
});

test('the server offers the single-file client on its ops port, byte for byte the file whose SHA-256 its start-up lines give', async (t) => {
  const dataDir = await tempDir(t, 'ferry-offer-');
  const server = await spawnServer(t, { FERRY_DATA_DIR: dataDir, FERRY_ADMIN_PASSWORD: 'offer-admin-password' });
  const line = await server.waitForLog((entry) => entry.event === 'client-download');
  const url = `http://127.0.0.1:${server.opsPort}${CLIENT_DOWNLOAD_PATH}`;
  t.deepEqual(line.urls, [url]);
  t.regex(String(line.msg), new RegExp(`SHA-256 ${String(line.sha256)}`));

  const response = await fetch(url);
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /javascript/);
  const offered = Buffer.from(await response.arrayBuffer());
  t.is(sha256(offered), String(line.sha256));
  t.is(sha256(offered), sha256(await readFile(CLIENT_BUNDLE_FILE)));

  const head = await fetch(url, { method: 'HEAD' });
  t.is(head.status, 200);
  // Exactly one file is offered: no other name near it reaches the disk. Sent as
  // written (fetch would normalise the dots away).
  for (const stray of ['/client/', '/client/ferry.mjs/..', '/client/../package.json', '/client/../../package.json', '/client/ferry.mjs%00', '/client/FERRY.MJS']) {
    t.is(await rawGetStatus(server.opsPort, stray), 404, stray);
  }
});

test('the single executable runs with no node on PATH, prints its version, and round-trips a file', async (t) => {
  const folder = await tempDir(t, 'ferry-sea-');
  const executable = await buildSingleExecutable(folder);
  const nothing = await tempDir(t, 'ferry-empty-path-');
  const version = await runClient(executable, ['--version'], folder, [nothing]);
  t.is(version.code, 0, version.stderr);
  t.is(version.stdout, `${VERSION}\n`);
  const server = await startServer(t);
  await roundTrip(t, server, (args, cwd) => runClient(executable, args, cwd, [nothing], server.env), folder);
});

withTools('ip').serial('another device fetches the client from the address in the start-up lines, its digest matches, and the command they suggest works as printed', async (t) => {
  const lan = await twoDevices(t);
  const server = await spawnServer(
    t,
    { FERRY_HOST: '0.0.0.0', FERRY_PORT: '8080', FERRY_OPS_HOST: '0.0.0.0', FERRY_OPS_PORT: '8081', FERRY_DATA_DIR: await tempDir(t), FERRY_ADMIN_PASSWORD: ADMIN.password },
    [],
    lan.server.ns,
  );
  const offer = await server.waitForLog((line) => line.event === 'client-download');
  const url = `http://${lan.server.ip}:8081${CLIENT_DOWNLOAD_PATH}`;
  t.deepEqual(offer.urls, [url]);
  const suggestion = server.logs.find((line) => line.event === 'lan-address' && line.address === lan.server.ip);
  const command = /from another device: (ferry .*)$/.exec(String(suggestion?.msg))?.[1];
  if (command === undefined) return t.fail(`no suggested command in ${JSON.stringify(suggestion)}`);

  // The other device: fetch the file, check it, put it on PATH as `ferry` (as the README says).
  const device = await tempDir(t, 'ferry-device-');
  const bin = join(device, 'bin');
  await mkdir(bin);
  const ferry = join(bin, 'ferry');
  const fetchScript = `fetch(${JSON.stringify(url)}).then(async (r) => { if (r.status !== 200) throw new Error(String(r.status)); require('node:fs').writeFileSync(${JSON.stringify(ferry)}, Buffer.from(await r.arrayBuffer())); })`;
  await lan.exec(lan.client.ns, process.execPath, ['-e', fetchScript]);
  t.is(await sha256File(ferry), String(offer.sha256));
  await chmod(ferry, 0o755);

  await randomFile(join(device, 'from-the-device.bin'), 100_000);
  const typed = (line: string) =>
    lan.exec(lan.client.ns, 'env', ['-i', `PATH=${[bin, dirname(process.execPath)].join(delimiter)}`, `HOME=${device}`, `FERRY_PASSWORD=${ADMIN.password}`, 'sh', '-c', `cd '${device}' && ${line}`]);
  const asUser = command.replace('-u NAME', `-u ${ADMIN.user}`);
  await typed(asUser.replace(/ ls$/, ' upload from-the-device.bin'));
  const listed = await typed(asUser);
  t.regex(listed.stdout, /from-the-device\.bin/);
});
