import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, ferry, jsonData } from '../helpers/cli.js';
import { randomFile, sha256File, tempDir } from '../helpers/files.js';
import { twoDevices } from '../helpers/netns.js';
import { ADMIN, spawnServer } from '../helpers/server.js';
import { eventually, withTools } from '../helpers/tools.js';

interface Found {
  name: string;
  addresses: string[];
  port: number;
  protocolVersion: number;
  tls: boolean;
  fingerprint?: string;
}

withTools('ip', 'iptables').serial('on two devices: discover finds the server by mDNS, -s auto moves files, doctor passes, names a blocking firewall, and open-firewall.sh fixes it', async (t) => {
  const lan = await twoDevices(t);
  const server = await spawnServer(
    t,
    {
      FERRY_HOST: '0.0.0.0',
      FERRY_PORT: '8080',
      FERRY_OPS_HOST: '0.0.0.0',
      FERRY_OPS_PORT: '8081',
      FERRY_MDNS: 'true',
      FERRY_DATA_DIR: await tempDir(t),
      FERRY_ADMIN_PASSWORD: ADMIN.password,
    },
    [],
    lan.server.ns,
  );
  t.true(
    server.logs.some(
      (line) => line.event === 'lan-address' && line.address === lan.server.ip && String(line.msg).includes(`ferry -s ${lan.server.ip}:8080 --fingerprint ${server.fingerprint}`),
    ),
    'the server prints the command another device would type, with the fingerprint to pin',
  );
  const auth = { FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password };
  const onClient = { netns: lan.client.ns, env: auth };
  await server.waitForLog((line) => line.event === 'mdns');

  const discovered = await ferry(['discover', '--json', '--timeout', '5'], onClient);
  t.is(discovered.code, 0, discovered.stderr);
  const found = jsonData(discovered.stdout) as Found[];
  t.is(found.length, 1, discovered.stdout);
  t.like(found[0] ?? {}, { port: 8080, protocolVersion: 1, tls: true, fingerprint: server.fingerprint });
  t.true(found[0]?.addresses.includes(lan.server.ip));

  const local = await tempDir(t);
  await randomFile(join(local, 'over-the-lan.bin'), 5 * 1024 * 1024);
  const up = await ferry(['-s', 'auto', 'upload', join(local, 'over-the-lan.bin')], onClient);
  t.is(up.code, 0, up.stderr);
  t.true(up.stderr.includes(`trusting its certificate ${server.fingerprint}`), up.stderr);
  const back = await tempDir(t);
  const down = await ferry(['-s', 'auto', 'download', '/over-the-lan.bin', '-d', back], onClient);
  t.is(down.code, 0, down.stderr);
  t.is(await sha256File(join(back, 'over-the-lan.bin')), await sha256File(join(local, 'over-the-lan.bin')));

  const doctor = (...args: string[]) => ferry(['-s', `${lan.server.ip}:8080`, 'doctor', ...args], onClient);
  const healthy = await doctor();
  t.is(healthy.code, 0, healthy.stdout + healthy.stderr);
  for (const step of ['name', 'network', 'reach', 'handshake', 'tls', 'login', 'round trip', 'mdns']) t.regex(healthy.stdout, new RegExp(`^ok {3}${step}`, 'm'));

  // A host firewall that drops everything it was not told to let in (mDNS is allowed).
  const iptables = (...args: string[]) => lan.exec(lan.server.ns, 'iptables', args);
  await iptables('-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT');
  await iptables('-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT');
  await iptables('-A', 'INPUT', '-p', 'udp', '--dport', '5353', '-j', 'ACCEPT');
  await iptables('-P', 'INPUT', 'DROP');
  const blocked = await doctor('--json');
  t.is(blocked.code, 5);
  const report = jsonData(blocked.stdout) as { ok: boolean; checks: { name: string; ok: boolean; cause?: string; fix?: string }[] };
  const reach = report.checks.find((check) => check.name === 'reach');
  t.false(reach?.ok);
  t.regex(reach?.cause ?? '', /firewall drops port 8080/);
  t.regex(reach?.fix ?? '', /scripts\/open-firewall\.sh 8080/);

  await lan.exec(lan.server.ns, 'sh', [join(REPO_ROOT, 'scripts', 'open-firewall.sh'), '8080', '8081']);
  const fixed = await doctor();
  t.is(fixed.code, 0, fixed.stdout + fixed.stderr);
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});

withTools('ip').serial('an mDNS record cannot lower security: a wrong fingerprint is refused on first use, the right one is pinned, and "no TLS" for a pinned server is refused', async (t) => {
  const lan = await twoDevices(t);
  // The real server does not announce itself; the test's announcer plays both it and the attacker.
  const server = await spawnServer(
    t,
    { FERRY_HOST: '0.0.0.0', FERRY_PORT: '8080', FERRY_MDNS: 'false', FERRY_DATA_DIR: await tempDir(t), FERRY_ADMIN_PASSWORD: ADMIN.password },
    [],
    lan.server.ns,
  );
  const knownHosts = join(await tempDir(t), 'known_hosts');
  const onClient = { netns: lan.client.ns, env: { FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password, FERRY_KNOWN_HOSTS: knownHosts } };
  const where = `${lan.server.ip}:8080`;

  /** Announces port 8080 with `fingerprint` (none: "no TLS") until the returned function is called. */
  const announce = async (fingerprint?: string): Promise<() => Promise<void>> => {
    const child = spawn('ip', ['netns', 'exec', lan.server.ns, process.execPath, join(REPO_ROOT, 'dist', 'test', 'helpers', 'announce.js'), '8080', ...(fingerprint ? [fingerprint] : [])], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    t.teardown(() => void child.kill('SIGKILL'));
    await once(child.stdout, 'data');
    // Wait until the client's side hears the record as announced, not an older one.
    await eventually(async () => {
      const found = jsonData((await ferry(['discover', '--json', '--timeout', '2'], onClient)).stdout) as Found[];
      return found.length === 1 && found[0]?.tls === (fingerprint !== undefined) && found[0]?.fingerprint === fingerprint ? true : undefined;
    }, 30_000);
    return async () => {
      child.kill('SIGTERM');
      await exited;
    };
  };

  const impostor = `SHA256:${Buffer.alloc(32, 9).toString('base64').replace(/=+$/, '')}`;
  let stop = await announce(impostor);
  const misled = await ferry(['-s', 'auto', '--retries', '0', 'ls'], onClient);
  t.is(misled.code, 6, misled.stderr);
  t.true(misled.stderr.includes(`has fingerprint ${server.fingerprint}, but the server's mDNS announcement names ${impostor}`), misled.stderr);
  await t.throwsAsync(access(knownHosts), undefined, 'nothing was pinned');
  await stop();

  stop = await announce(server.fingerprint);
  const honest = await ferry(['-s', 'auto', 'ls'], onClient);
  t.is(honest.code, 0, honest.stderr);
  t.is((await readFile(knownHosts, 'utf8')).trim(), `${where} ${server.fingerprint}`, 'the announced fingerprint is pinned');
  await stop();

  stop = await announce(undefined);
  for (const args of [[], ['--no-tls']]) {
    const downgraded = await ferry(['-s', 'auto', ...args, '--retries', '0', 'ls'], onClient);
    t.is(downgraded.code, 6, downgraded.stderr);
    t.true(downgraded.stderr.includes(`${where} announces itself on the network without TLS, but this device has talked to it over TLS`), downgraded.stderr);
  }
  await stop();
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});
