/**
 * The Docker image (README: Docker), built and run for real without a Docker
 * engine: buildah builds the Dockerfile against a local stand-in for
 * `node:20-slim` (Debian bookworm from debootstrap plus this machine's own node
 * and npm, since no base image can be pulled here), then runs the image's own
 * entrypoint with `buildah run`, and the real CLI on the host moves files through
 * it. Needs root, buildah and debootstrap (installed by .ci/run).
 */

import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chown, cp, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT, ferry } from '../helpers/cli.js';
import { randomFile, sha256, sha256File, tempDir } from '../helpers/files.js';
import { freePort, hasTool } from '../helpers/tools.js';

/** What the Dockerfile's `FROM` names, as buildah resolves it. */
const BASE_IMAGE = 'docker.io/library/node:20-slim';
/** The stand-in, named by the node it carries, so a node upgrade on this machine makes a new one. */
const STAND_IN_REPO = 'localhost/ferry-node-stand-in';
const STAND_IN = `${STAND_IN_REPO}:${process.versions.node}`;
const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
/** Where the build-time npmrc is mounted: root's own, in any Debian-based image. */
const BUILD_NPMRC = '/root/.npmrc';
const CHROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const ADMIN_PASSWORD = 'docker-admin-password';
const MINUTE = 60_000;
/**
 * The build takes about 2 minutes with the stand-in cached and 5 on a fresh
 * machine (debootstrap, then npm ci twice): too slow for every local `npm test`,
 * so it runs when FERRY_DOCKER_TEST=1 (which .ci/run sets) or under CI.
 */
const BUILD_IMAGE = process.env.FERRY_DOCKER_TEST === '1' || Boolean(process.env.CI);

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  cwd?: string;
  timeoutMs?: number;
}

/** Runs a command to its end; a non-zero exit throws with the tail of its output. */
async function run(command: string, args: string[], options: RunOptions = {}): Promise<string> {
  const result = await runForResult(command, args, options);
  if (result.code !== 0) {
    const tail = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-40).join('\n');
    throw new Error(`${command} ${args.join(' ')} exited with ${result.code}:\n${tail}`);
  }
  return result.stdout;
}

async function runForResult(command: string, args: string[], options: RunOptions = {}): Promise<Result> {
  const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? MINUTE);
  try {
    const [code] = (await once(child, 'close')) as [number | null];
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** Fails the test, saying what to install, unless this machine can build and run images. */
function canBuildImages(t: ExecutionContext): boolean {
  const missing = ['buildah', 'debootstrap', 'chroot'].filter((tool) => !hasTool(tool));
  if (missing.length > 0) {
    t.fail(`needs ${missing.join(', ')}: apt-get install buildah debootstrap debian-archive-keyring (what .ci/run installs)`);
    return false;
  }
  if (process.getuid?.() !== 0) {
    t.fail('needs root: buildah builds and runs images as root here (CI runs as root)');
    return false;
  }
  return true;
}

async function imageExists(name: string): Promise<boolean> {
  return (await runForResult('buildah', ['inspect', '--type', 'image', name])).code === 0;
}

async function imageId(name: string): Promise<string> {
  return (await run('buildah', ['inspect', '--type', 'image', '--format', '{{.FromImageID}}', name])).trim();
}

/** Every name buildah's store gives to the image called `name`. */
async function namesOf(name: string): Promise<string[]> {
  const id = await imageId(name);
  const images = JSON.parse(await run('buildah', ['images', '--json'])) as { id: string; names: string[] | null }[];
  return images.find((image) => id.startsWith(image.id))?.names ?? [];
}

/**
 * Makes `node:20-slim` available to a build that cannot pull. A real one already
 * in buildah's store is used as it is; otherwise a stand-in is made once (debootstrap,
 * one to three minutes) and reused by later runs: Debian bookworm minbase, trimmed
 * as the slim images are, with node and npm where the official image has them and
 * its `node` user.
 */
async function provideBaseImage(t: ExecutionContext): Promise<void> {
  if ((await imageExists(BASE_IMAGE)) && !(await namesOf(BASE_IMAGE)).some((name) => name.startsWith(`${STAND_IN_REPO}:`))) {
    t.log(`building on the ${BASE_IMAGE} already in buildah's store`);
    return;
  }
  if (await imageExists(STAND_IN)) {
    t.log(`reusing the stand-in base image ${STAND_IN}`);
  } else {
    const started = Date.now();
    await makeStandIn(t);
    t.log(`made the stand-in base image ${STAND_IN} in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  await run('buildah', ['tag', STAND_IN, BASE_IMAGE]);
}

async function makeStandIn(t: ExecutionContext): Promise<void> {
  const npm = join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm');
  await stat(join(npm, 'bin', 'npm-cli.js')).catch(() => {
    throw new Error(`npm is not at ${npm}, next to ${process.execPath}; the stand-in base image needs both`);
  });
  const work = await tempDir(t, 'ferry-stand-in-');
  const rootfs = join(work, 'rootfs');
  // A debootstrap that fails midway can leave these mounted inside the tree.
  t.teardown(async () => {
    for (const mount of ['proc', 'sys']) await runForResult('umount', ['--lazy', join(rootfs, mount)]);
  });
  await run('debootstrap', ['--variant=minbase', 'bookworm', rootfs, DEBIAN_MIRROR], { timeoutMs: 10 * MINUTE });
  for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists', 'usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale']) {
    for (const entry of await readdir(join(rootfs, dir))) await rm(join(rootfs, dir, entry), { recursive: true, force: true });
  }
  await cp(process.execPath, join(rootfs, 'usr/local/bin/node'), { preserveTimestamps: true });
  await mkdir(join(rootfs, 'usr/local/lib/node_modules'), { recursive: true });
  await run('cp', ['-a', npm, join(rootfs, 'usr/local/lib/node_modules/npm')]);
  await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/local/bin/npm'));
  await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(rootfs, 'usr/local/bin/npx'));
  const inRoot = { env: { PATH: CHROOT_PATH } };
  await run('chroot', [rootfs, 'groupadd', '--gid', '1000', 'node'], inRoot);
  await run('chroot', [rootfs, 'useradd', '--uid', '1000', '--gid', 'node', '--shell', '/bin/bash', '--create-home', 'node'], inRoot);
  t.is((await run('chroot', [rootfs, 'node', '--version'], inRoot)).trim(), process.version, 'node runs inside the stand-in');

  const container = (await run('buildah', ['from', 'scratch'])).trim();
  try {
    const mountPoint = (await run('buildah', ['mount', container])).trim();
    await run('cp', ['-a', `${rootfs}/.`, `${mountPoint}/`], { timeoutMs: 5 * MINUTE });
    await run('buildah', ['umount', container]);
    await run('buildah', ['config', '--env', `PATH=${CHROOT_PATH}`, '--env', `NODE_VERSION=${process.versions.node}`, '--cmd', 'node', container]);
    await run('buildah', ['commit', '--quiet', '--format', 'docker', container, STAND_IN], { timeoutMs: 5 * MINUTE });
  } finally {
    await runForResult('buildah', ['rm', container]);
  }
  await rm(work, { recursive: true, force: true });
}

/** `buildah bud` of the repository's Dockerfile, with registry access lent to the build only. */
async function buildImage(t: ExecutionContext, image: string): Promise<void> {
  await stat(HOST_CA_BUNDLE).catch(() => {
    throw new Error(`the build's npm ci needs this machine's CA bundle at ${HOST_CA_BUNDLE} (apt-get install ca-certificates)`);
  });
  const npmrc = join(await tempDir(t, 'ferry-npmrc-'), 'npmrc');
  const registry = (await run('npm', ['config', 'get', 'registry'])).trim();
  await writeFile(npmrc, `registry=${registry}\ncafile=${HOST_CA_BUNDLE}\nupdate-notifier=false\n`);
  t.teardown(() => runForResult('buildah', ['rmi', '--force', image]));
  await run(
    'buildah',
    [
      'bud',
      '--isolation', 'chroot',
      // Docker format: OCI would drop HEALTHCHECK.
      '--format', 'docker',
      '--pull=never',
      '--volume', `${HOST_CA_BUNDLE}:${HOST_CA_BUNDLE}:ro`,
      '--volume', `${npmrc}:${BUILD_NPMRC}:ro`,
      '--tag', image,
      REPO_ROOT,
    ],
    { timeoutMs: 15 * MINUTE },
  );
}

interface ImageConfig {
  User?: string;
  Env?: string[];
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
  Healthcheck?: { Test?: string[] };
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
}

async function imageConfig(image: string): Promise<ImageConfig> {
  const inspected = JSON.parse(await run('buildah', ['inspect', '--type', 'image', image])) as { Docker?: { config?: ImageConfig } };
  return inspected.Docker?.config ?? {};
}

/** A working container of `image`, removed when the test ends. */
async function containerOf(t: ExecutionContext, image: string): Promise<string> {
  const container = (await run('buildah', ['from', '--pull=never', image])).trim();
  t.teardown(() => runForResult('buildah', ['rm', container]));
  return container;
}

type LogLine = Record<string, unknown>;

interface RunningContainer {
  child: ChildProcess;
  logs: LogLine[];
  exited: Promise<number | null>;
  waitForLog(match: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine>;
}

/** `buildah run` of `command`, following its JSON log lines; killed at teardown if still running. */
function runInContainer(t: ExecutionContext, container: string, runArgs: string[], command: string[]): RunningContainer {
  const child = spawn('buildah', ['run', '--isolation', 'chroot', ...runArgs, container, '--', ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  const listeners = new Set<() => void>();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (text) => {
    try {
      logs.push(JSON.parse(text) as LogLine);
    } catch {
      logs.push({ msg: text });
    }
    for (const listener of listeners) listener();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // buildah run only relays: the service is its grandchild, named by its log lines.
    for (const pid of new Set(logs.map((line) => line.pid))) {
      if (typeof pid !== 'number') continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    child.kill('SIGKILL');
    await exited;
  });
  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const line = logs.find(match);
        if (!line) return;
        finish();
        resolve(line);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no matching log line within ${timeoutMs} ms; log so far:\n${logs.map((line) => JSON.stringify(line)).join('\n')}\n${stderr}`));
      }, timeoutMs);
      const onExit = (code: number | null): void => {
        finish();
        reject(new Error(`the container's command exited with ${code} before the expected log line:\n${stderr}`));
      };
      const finish = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
        child.off('exit', onExit);
      };
      listeners.add(check);
      child.once('exit', onExit);
      check();
    });
  return { child, logs, exited, waitForLog };
}

/** The numeric uid (and gid) that `USER` names, as /proc reports it. */
function numericUser(user: string | undefined): { uid: number; gid: number } {
  const [uid, gid] = (user ?? '').split(':').map(Number);
  if (uid === undefined || !Number.isInteger(uid) || gid === undefined || !Number.isInteger(gid)) {
    throw new Error(`the image's USER should be numeric uid:gid, got ${JSON.stringify(user)}`);
  }
  return { uid, gid };
}

async function idsOf(pid: number): Promise<{ uids: number[]; gids: number[]; command: string }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number[] => (new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(status)?.[1] ?? '').split(/\s+/).map(Number);
  const command = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
  return { uids: field('Uid'), gids: field('Gid'), command };
}

test('the Dockerfile passes dockerfile-utils lint without an error or a warning', async (t) => {
  const lint = join(REPO_ROOT, 'node_modules', 'dockerfile-utils', 'bin', 'dockerfile-utils');
  const result = await runForResult(process.execPath, [lint, 'lint', '--json', join(REPO_ROOT, 'Dockerfile')]);
  t.is(result.code, 0, result.stdout + result.stderr);
  t.deepEqual(JSON.parse(result.stdout), [], 'no problems reported');
});

if (!BUILD_IMAGE) console.log('docker.test: the image build and run is skipped; set FERRY_DOCKER_TEST=1 to run it (.ci/run does)');
(BUILD_IMAGE ? test.serial : test.serial.skip)('the image builds with buildah, runs as a non-root user, serves uploads and downloads into its /data volume, and drains on SIGTERM', async (t) => {
  t.timeout(30 * MINUTE);
  if (!canBuildImages(t)) return;
  const image = `localhost/ferry-docker-test:${process.pid}`;
  const started = Date.now();
  const elapsed = (): string => `${Math.round((Date.now() - started) / 1000)} s`;

  await provideBaseImage(t);
  await buildImage(t, image);
  const size = (await run('buildah', ['images', '--format', '{{.Size}}', image])).trim();
  t.log(`built ${image} (${size}) after ${elapsed()}`);

  const config = await imageConfig(image);
  const user = numericUser(config.User);
  t.not(user.uid, 0, 'USER is not root');
  t.deepEqual(Object.keys(config.ExposedPorts ?? {}).sort(), ['8080/tcp', '8081/tcp', '8443/tcp']);
  t.deepEqual(Object.keys(config.Volumes ?? {}), ['/data']);
  t.true(config.Env?.includes('FERRY_DATA_DIR=/data'), 'data goes to the volume');
  t.true(config.Env?.includes('FERRY_MDNS=false'), 'no mDNS on a bridge network by default');
  const healthcheck = config.Healthcheck?.Test ?? [];
  t.is(healthcheck[0], 'CMD', 'a HEALTHCHECK in exec form (kept by the Docker format)');
  const entrypoint = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  t.is(entrypoint[0], 'node', 'node itself is PID 1, with no shell in between to swallow signals');

  const container = await containerOf(t, image);
  const root = (await run('buildah', ['mount', container])).trim();
  t.deepEqual((await readdir(join(root, 'app'))).sort(), ['config', 'dist', 'node_modules', 'package.json', 'web'], 'only what runs');
  t.deepEqual((await readdir(join(root, 'app', 'dist'))).sort(), ['client', 'src'], 'the compiled server and the single-file client it offers');
  for (const devOnly of ['typescript', 'ava', 'dockerfile-utils']) {
    t.false(await stat(join(root, 'app', 'node_modules', devOnly)).then(() => true, () => false), `no ${devOnly} (a devDependency)`);
  }
  for (const borrowed of [BUILD_NPMRC, HOST_CA_BUNDLE]) {
    const size = await stat(join(root, borrowed)).then((found) => found.size, () => 0);
    t.is(size, 0, `${borrowed} was lent to the build, not baked into the image`);
  }
  await run('buildah', ['umount', container]);

  const dataDir = await tempDir(t, 'ferry-docker-data-');
  await chown(dataDir, user.uid, user.gid);
  // buildah run mounts a fresh anonymous volume over each VOLUME of the image, and
  // that would hide the bind mount; docker run -v replaces it. Dropping the
  // declaration from this working container (not from the image) gives docker's
  // behaviour.
  await run('buildah', ['config', '--volume', '/data-', container]);
  const [port, opsPort] = [await freePort(), await freePort()];
  // chroot isolation shares the host's network: loopback and free ports only.
  const env = { FERRY_HOST: '127.0.0.1', FERRY_PORT: String(port), FERRY_OPS_HOST: '127.0.0.1', FERRY_OPS_PORT: String(opsPort), FERRY_MDNS: 'false' };
  const envArgs = Object.entries(env).flatMap(([key, value]) => ['--env', `${key}=${value}`]);
  const volume = ['--volume', `${dataDir}:/data`];
  const service = runInContainer(t, container, [...envArgs, ...volume, '--env', `FERRY_ADMIN_PASSWORD=${ADMIN_PASSWORD}`, '--env', 'FERRY_WORKERS=2'], entrypoint);
  const ready = await service.waitForLog((line) => line.event === 'workers-ready', 2 * MINUTE);
  t.true(service.logs.some((line) => line.event === 'listening' && line.port === port), 'listening on the port FERRY_PORT names');
  t.log(`the container serves on 127.0.0.1:${port} after ${elapsed()}`);

  const pid = ready.pid as number;
  const primary = await idsOf(pid);
  t.true(primary.command.includes('/app/dist/src/cli/ferry-server.js start'), primary.command);
  t.deepEqual(primary.uids, [user.uid, user.uid, user.uid, user.uid], `the server runs as uid ${user.uid}, not root`);
  t.deepEqual(primary.gids, [user.gid, user.gid, user.gid, user.gid]);
  for (const worker of service.logs.filter((line) => line.event === 'worker-start')) {
    t.is((await idsOf(worker.pid as number)).uids[0], user.uid, 'its workers too');
  }

  const health = await fetch(`http://127.0.0.1:${opsPort}/healthz`);
  t.is(health.status, 200, '/healthz answers from the host');
  const offered = Buffer.from(await (await fetch(`http://127.0.0.1:${opsPort}/client/ferry.mjs`)).arrayBuffer());
  t.is(sha256(offered), String(service.logs.find((line) => line.event === 'client-download')?.sha256), 'the image offers the single-file client whose digest it logs');
  const probe = await runForResult('buildah', ['run', '--isolation', 'chroot', ...envArgs, container, '--', ...healthcheck.slice(1)]);
  t.is(probe.code, 0, `the image's own HEALTHCHECK command passes: ${probe.stderr}`);

  const local = await tempDir(t);
  await randomFile(join(local, 'through-the-container.bin'), 3 * 1024 * 1024 + 17);
  const expected = await sha256File(join(local, 'through-the-container.bin'));
  const asAdmin = { env: { FERRY_SERVER: `127.0.0.1:${port}`, FERRY_USER: 'admin', FERRY_PASSWORD: ADMIN_PASSWORD } };
  const up = await ferry(['upload', join(local, 'through-the-container.bin')], asAdmin);
  t.is(up.code, 0, up.stderr);
  t.is(await sha256File(join(dataDir, 'files', 'through-the-container.bin')), expected, 'the file landed in the volume on the host');
  const back = await tempDir(t);
  const down = await ferry(['download', '/through-the-container.bin', '-d', back], asAdmin);
  t.is(down.code, 0, down.stderr);
  t.is(await sha256File(join(back, 'through-the-container.bin')), expected, 'the download is intact');

  // As `docker exec ferry ferry-server user add` would: the admin CLI is on PATH and
  // writes the users file that the running server reloads.
  const added = await runForResult('buildah', ['run', '--isolation', 'chroot', ...envArgs, ...volume, container, '--', 'ferry-server', 'user', 'add', 'carol', '--home', '/', '--read-only', '--password-stdin'], {
    input: 'carol-password\n',
  });
  t.is(added.code, 0, added.stdout + added.stderr);
  const users = await runForResult('buildah', ['run', '--isolation', 'chroot', ...envArgs, ...volume, container, '--', ...(config.Entrypoint ?? []), 'user', 'list']);
  t.regex(users.stdout, /^admin\t[\s\S]*^carol\t/m, `arguments after the image name go to ferry-server: ${users.stderr}`);
  const asCarol = { env: { FERRY_SERVER: `127.0.0.1:${port}`, FERRY_USER: 'carol', FERRY_PASSWORD: 'carol-password' } };
  const listed = await ferry(['ls'], asCarol);
  t.is(listed.code, 0, listed.stderr);
  t.true(listed.stdout.includes('through-the-container.bin'), listed.stdout);

  process.kill(pid, 'SIGTERM');
  t.is(await service.exited, 0, 'SIGTERM (what docker stop sends) drains and exits 0');
  t.true(service.logs.some((line) => line.event === 'drain' && line.signal === 'SIGTERM'));
  t.true(service.logs.some((line) => line.event === 'stopped'));
  t.log(`whole test: ${elapsed()}`);
});
