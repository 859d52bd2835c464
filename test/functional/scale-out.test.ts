/**
 * Scale-out: two Ferry hosts (separate processes, separate local state) on one
 * S3 bucket (s3rver), behind HAProxy running deploy/haproxy.cfg as shipped, all on
 * loopback. Clients reach either host through the balancer, or one host directly.
 */

import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { ferry, jsonData, REPO_ROOT, startFerry } from '../helpers/cli.js';
import { randomFile, sha256File, tempDir } from '../helpers/files.js';
import { scrape, sumSamples } from '../helpers/metrics.js';
import { startProxy } from '../helpers/proxy.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { writeSelfSignedCertificate } from '../../src/ops/certificate.js';
import { ADMIN, spawnServer, type SpawnedServer } from '../helpers/server.js';
import { s3Files, type StoredFiles } from '../helpers/stored.js';
import { eventually, freePort, withTools } from '../helpers/tools.js';

interface Cluster {
  s3: TestS3;
  stored: StoredFiles;
  hosts: [SpawnedServer, SpawnedServer];
  /** CLI environment through the balancer. */
  balanced: Record<string, string>;
  /** CLI environment straight to one host. */
  direct(host: SpawnedServer): Record<string, string>;
}

interface Report {
  ok: boolean;
  files: { remote: string; sha256: string; resumedFrom?: number }[];
}

const credentials = { FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password };

/** Every test here runs behind HAProxy. */
const balancedTest = withTools('haproxy');

async function startCluster(t: ExecutionContext, env: Record<string, string> = {}): Promise<Cluster> {
  const s3 = await startS3(t);
  // Hosts behind one address show one certificate, or clients would see it change between connections.
  const { certFile, keyFile, fingerprint } = await writeSelfSignedCertificate(await tempDir(t, 'ferry-lb-tls-'), 30);
  const start = async (name: string): Promise<SpawnedServer> => {
    const dataDir = await tempDir(t, `ferry-host-${name}-`);
    return spawnServer(t, { ...s3.env, FERRY_DATA_DIR: dataDir, FERRY_ADMIN_PASSWORD: ADMIN.password, FERRY_S3_PART_SIZE: '5MiB', FERRY_TLS_CERT: certFile, FERRY_TLS_KEY: keyFile, ...env });
  };
  const hosts: [SpawnedServer, SpawnedServer] = [await start('a'), await start('b')];
  const lbPort = await freePort();
  const haproxy = spawn('haproxy', ['-db', '-f', join(REPO_ROOT, 'deploy', 'haproxy.cfg')], {
    env: {
      ...process.env,
      FERRY_LB_BIND: `127.0.0.1:${lbPort}`,
      FERRY_HOST_1: `127.0.0.1:${hosts[0].port}`,
      FERRY_OPS_PORT_1: String(hosts[0].opsPort),
      FERRY_HOST_2: `127.0.0.1:${hosts[1].port}`,
      FERRY_OPS_PORT_2: String(hosts[1].opsPort),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let haproxyErrors = '';
  haproxy.stderr.on('data', (chunk: Buffer) => (haproxyErrors += chunk.toString()));
  t.teardown(async () => {
    if (haproxy.exitCode !== null || haproxy.signalCode !== null) return;
    haproxy.kill('SIGKILL');
    await once(haproxy, 'exit');
  });
  const login = { ...credentials, FERRY_FINGERPRINT: fingerprint };
  const balanced = { FERRY_SERVER: `127.0.0.1:${lbPort}`, ...login };
  const exited = once(haproxy, 'exit').then(() => {
    throw new Error(`HAProxy exited: ${haproxyErrors}`);
  });
  const passing = eventually(async () => ((await ferry(['--retries', '0', 'ls'], { env: balanced })).code === 0 ? true : undefined), 20_000);
  await Promise.race([passing, exited]).catch((error: unknown) => {
    throw new Error(`HAProxy did not pass a connection through: ${String(error)}; its stderr: ${haproxyErrors}`);
  });
  exited.catch(() => undefined);
  return {
    s3,
    stored: s3Files(s3.client, s3.bucket),
    hosts,
    balanced,
    direct: (host) => ({ FERRY_SERVER: `127.0.0.1:${host.port}`, ...login }),
  };
}

/** Uploads (and their outcome) a host has logged. */
function uploadsOn(host: SpawnedServer, result?: string): Record<string, unknown>[] {
  return host.logs.filter((line) => line.event === 'transfer' && line.direction === 'upload' && (result === undefined || line.result === result));
}

balancedTest('uploads through the balancer land on both hosts, and a file uploaded through one downloads intact through the other', async (t) => {
  const cluster = await startCluster(t);
  const [a, b] = cluster.hosts;
  const local = await tempDir(t);
  for (let i = 0; i < 6; i++) {
    await randomFile(join(local, `f${i}.bin`), 100_000 + i);
    const result = await ferry(['upload', join(local, `f${i}.bin`)], { env: cluster.balanced });
    t.is(result.code, 0, result.stderr);
  }
  await eventually(async () => (uploadsOn(a, 'ok').length + uploadsOn(b, 'ok').length === 6 ? true : undefined), 10_000);
  t.true(uploadsOn(a, 'ok').length > 0 && uploadsOn(b, 'ok').length > 0, `uploads per host: ${uploadsOn(a, 'ok').length} and ${uploadsOn(b, 'ok').length}`);
  for (let i = 0; i < 6; i++) t.is(await cluster.stored.sha256(`f${i}.bin`), await sha256File(join(local, `f${i}.bin`)), `f${i}.bin in the bucket`);

  // Several parts (5 MiB each here), uploaded to A, read back from B.
  await randomFile(join(local, 'shared.bin'), 13 * 1024 * 1024 + 7);
  const up = await ferry(['upload', join(local, 'shared.bin'), '-d', '/team'], { env: cluster.direct(a) });
  t.is(up.code, 0, up.stderr);
  const back = await tempDir(t);
  const down = await ferry(['download', '/team/shared.bin', '-d', back], { env: cluster.direct(b) });
  t.is(down.code, 0, down.stderr);
  t.is(await sha256File(join(back, 'shared.bin')), await sha256File(join(local, 'shared.bin')));
  const listed = await ferry(['ls', '/team', '--json'], { env: cluster.direct(b) });
  t.like((jsonData(listed.stdout) as { name: string; size: number }[])[0], { name: 'shared.bin', size: 13 * 1024 * 1024 + 7 });
});

balancedTest('an upload interrupted on one host is resumed through the other from the parts already in the bucket', async (t) => {
  const cluster = await startCluster(t);
  const [a, b] = cluster.hosts;
  const local = await tempDir(t);
  const file = join(local, 'big.bin');
  await randomFile(file, 24 * 1024 * 1024);
  // The network to A fails half-way, and this client does not retry.
  const proxy = await startProxy(t, a.port, { cuts: [12 * 1024 * 1024] });
  const cut = await ferry(['--retries', '0', 'upload', file], { env: { ...cluster.direct(a), FERRY_SERVER: `127.0.0.1:${proxy.port}` } });
  t.is(cut.code, 5, cut.stderr);
  await a.waitForLog((line) => line.event === 'transfer' && line.direction === 'upload' && line.result !== 'ok');

  const resumed = await ferry(['upload', file, '--json'], { env: cluster.direct(b) });
  t.is(resumed.code, 0, resumed.stderr);
  const resumedFrom = (jsonData(resumed.stdout) as Report).files[0]?.resumedFrom ?? 0;
  t.true(resumedFrom >= 5 * 1024 * 1024 && resumedFrom <= 12 * 1024 * 1024, `B continued from byte ${resumedFrom}, where A's last whole part ended`);
  t.is(await cluster.stored.sha256('big.bin'), await sha256File(file));
  t.deepEqual(await cluster.stored.leftovers(), [], 'the upload record is gone once the file is complete');
});

balancedTest('stopping a host mid-session sends new connections to the other, and no transfer fails after the client retries', async (t) => {
  // Slow transfers (4 MiB/s per connection) so that A is stopped with uploads in flight; a short drain cuts them.
  const cluster = await startCluster(t, { FERRY_BANDWIDTH_LIMIT: '4MiB', FERRY_DRAIN_TIMEOUT: '1s' });
  const [a, b] = cluster.hosts;
  const local = await tempDir(t);
  const names = ['one.bin', 'two.bin', 'three.bin', 'four.bin'];
  for (const name of names) await randomFile(join(local, name), 12 * 1024 * 1024);
  const clients = names.map((name) => startFerry(['upload', join(local, name), '--json'], { env: cluster.balanced }));

  await eventually(async () => (sumSamples(await scrape(a.opsPort), 'ferry_connections_active') > 0 ? true : undefined), 20_000);
  a.child.kill('SIGTERM');
  t.is(await a.exited, 0, 'A drained and stopped cleanly');

  const results = await Promise.all(clients.map((client) => client.result));
  for (const [index, result] of results.entries()) t.is(result.code, 0, `${names[index]}: ${result.stderr}`);
  for (const name of names) t.is(await cluster.stored.sha256(name), await sha256File(join(local, name)), `${name} in the bucket`);
  t.true(uploadsOn(b, 'ok').length > 0, 'B took over');
  const after = await ferry(['ls'], { env: cluster.balanced });
  t.is(after.code, 0, 'new connections through the balancer go to B');
});
