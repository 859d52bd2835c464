/**
 * The web path against the CLI in one run: one server (`ferry-server start`, single
 * process unless --cluster), one file (1 GiB unless --size), uploaded and downloaded
 * by the `ferry` command line and by HTTPS (a tus upload in one PATCH, a plain GET
 * download, as a browser does), with the server's memory (RSS of it and its workers)
 * sampled during each transfer and every copy checked by SHA-256.
 *
 *   npm run build && node dist/bench/web.js [--size BYTES] [--cluster]
 */

import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { request, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IncomingMessage } from 'node:http';
import { certificateFingerprint } from '../src/protocol/fingerprint.js';
import { MemorySampler, type MemoryPeak } from './lib/memory.js';
import { FERRY_BIN, REPO_ROOT, SERVER_BIN } from './lib/paths.js';
import { freePort, run, start } from './lib/processes.js';

const args = process.argv.slice(2);
const size = Number(args[args.indexOf('--size') + 1] ?? '') || 2 ** 30;
const cluster = args.includes('--cluster');

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  for (let left = bytes; left > 0; left -= 16 << 20) {
    if (!out.write(randomBytes(Math.min(left, 16 << 20)))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

function ready(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    get({ host: '127.0.0.1', port, path: '/readyz', timeout: 1000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    }).on('error', () => resolve(false));
  });
}

function https(options: RequestOptions & { body?: NodeJS.ReadableStream | string }): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ ...options, host: '127.0.0.1', rejectUnauthorized: false, agent: false }, resolve);
    req.on('error', reject);
    if (options.body === undefined || typeof options.body === 'string') req.end(options.body);
    else options.body.pipe(req);
  });
}

async function timed(pid: number, go: () => Promise<void>): Promise<{ seconds: number; memory: MemoryPeak }> {
  const sampler = new MemorySampler(pid);
  const started = performance.now();
  await go();
  const seconds = (performance.now() - started) / 1000;
  return { seconds, memory: sampler.stop() };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-web-'));
  try {
    const dataDir = join(dir, 'data');
    await mkdir(dataDir);
    const source = join(dir, 'source.bin');
    await writeRandomFile(source, size);
    const digest = await sha256File(source);
    const [port, opsPort, webPort] = [await freePort(), await freePort(), await freePort()];
    const password = `bench-${randomBytes(9).toString('base64url')}`;
    const env: NodeJS.ProcessEnv = {
      ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('FERRY_'))),
      FERRY_HOST: '127.0.0.1',
      FERRY_PORT: String(port),
      FERRY_OPS_HOST: '127.0.0.1',
      FERRY_OPS_PORT: String(opsPort),
      FERRY_WEB_HOST: '127.0.0.1',
      FERRY_WEB_PORT: String(webPort),
      FERRY_DATA_DIR: dataDir,
      FERRY_ADMIN_PASSWORD: password,
      FERRY_MDNS: 'false',
      FERRY_LOG_LEVEL: 'warn',
      ...(cluster ? {} : { FERRY_WORKERS: '0' }),
    };
    const server = start(process.execPath, [SERVER_BIN, 'start'], { env, cwd: REPO_ROOT });
    const deadline = Date.now() + 30_000;
    while (!(await ready(opsPort))) {
      if (Date.now() > deadline || !server.running) throw new Error('the server did not become ready');
      await sleep(100);
    }
    const pid = server.pid;
    const fingerprint = certificateFingerprint(new X509Certificate(await readFile(join(dataDir, 'tls', 'cert.pem'))));
    const clientEnv = { ...env, FERRY_SERVER: `127.0.0.1:${port}`, FERRY_USER: 'admin', FERRY_PASSWORD: password, FERRY_FINGERPRINT: fingerprint, FERRY_KNOWN_HOSTS: join(dir, 'known_hosts') };
    const ferry = (rest: string[]) => run(process.execPath, [FERRY_BIN, '-q', ...rest], { env: clientEnv, timeoutMs: 600_000 });
    await mkdir(join(dir, 'cli-down'));
    await mkdir(join(dir, 'web-down'));

    const results: Record<string, { seconds: number; memory: MemoryPeak }> = {};
    results['CLI upload'] = await timed(pid, async () => void (await ferry(['upload', source, '-d', '/cli'])));
    results['CLI download'] = await timed(pid, async () => void (await ferry(['download', '/cli/source.bin', '-d', join(dir, 'cli-down')])));

    const login = await https({ port: webPort, method: 'POST', path: '/api/login', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user: 'admin', password }) });
    const chunks: Buffer[] = [];
    for await (const chunk of login) chunks.push(chunk as Buffer);
    const cookie = String(login.headers['set-cookie']?.[0]).split(';')[0] as string;
    const csrf = String((JSON.parse(Buffer.concat(chunks).toString()) as { csrf: string }).csrf);
    const auth = { Cookie: cookie, 'X-CSRF-Token': csrf, 'Tus-Resumable': '1.0.0' };
    results['web upload (tus)'] = await timed(pid, async () => {
      const created = await https({ port: webPort, method: 'POST', path: '/api/tus', headers: { ...auth, 'Upload-Length': String(size), 'Upload-Metadata': `filename ${Buffer.from('source.bin').toString('base64')},folder ${Buffer.from('/web').toString('base64')}` } });
      created.resume();
      const location = String(created.headers.location);
      const patched = await https({
        port: webPort,
        method: 'PATCH',
        path: location,
        headers: { ...auth, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': String(size) },
        body: createReadStream(source, { highWaterMark: 1 << 20 }),
      });
      patched.resume();
      if (patched.statusCode !== 204) throw new Error(`the tus upload answered ${patched.statusCode}`);
      if (patched.headers['ferry-sha256'] !== digest) throw new Error('the web upload stored other bytes');
    });
    results['web download (GET)'] = await timed(pid, async () => {
      const response = await https({ port: webPort, method: 'GET', path: '/api/download?path=/web/source.bin', headers: { Cookie: cookie } });
      await pipeline(response, createWriteStream(join(dir, 'web-down', 'source.bin')));
    });
    await server.stop();

    for (const copy of [join(dir, 'cli-down', 'source.bin'), join(dir, 'web-down', 'source.bin'), join(dataDir, 'files', 'cli', 'source.bin'), join(dataDir, 'files', 'web', 'source.bin')]) {
      if ((await sha256File(copy)) !== digest) throw new Error(`${copy} does not match the source`);
    }
    const mib = size / 2 ** 20;
    console.log(`${(size / 2 ** 30).toFixed(2)} GiB, ${cluster ? 'cluster' : 'single process'}, loopback, TLS; every copy matched SHA-256 ${digest.slice(0, 12)}...`);
    for (const [name, { seconds, memory }] of Object.entries(results)) {
      console.log(`${name.padEnd(20)} ${seconds.toFixed(2).padStart(7)} s  ${(mib / seconds).toFixed(0).padStart(5)} MiB/s  server RSS peak ${memory.totalMB.toFixed(0)} MB`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
