import test from 'ava';
import { join } from 'node:path';
import { REPO_ROOT, ferry, jsonData } from '../helpers/cli.js';
import { randomFile, sha256File, tempDir } from '../helpers/files.js';
import { twoDevices } from '../helpers/netns.js';
import { ADMIN, spawnServer } from '../helpers/server.js';
import { requireTools } from '../helpers/tools.js';

interface Found {
  name: string;
  addresses: string[];
  port: number;
  protocolVersion: number;
  tls: boolean;
}

test.serial('on two devices: discover finds the server by mDNS, -s auto moves files, doctor passes, names a blocking firewall, and open-firewall.sh fixes it', async (t) => {
  if (!requireTools(t, 'ip', 'iptables')) return;
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
    server.logs.some((line) => line.event === 'lan-address' && line.address === lan.server.ip && String(line.msg).includes(`ferry -s ${lan.server.ip}:8080`)),
    'the server prints the command another device would type',
  );
  const auth = { FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password };
  const onClient = { netns: lan.client.ns, env: auth };
  await server.waitForLog((line) => line.event === 'mdns');

  const discovered = await ferry(['discover', '--json', '--timeout', '5'], onClient);
  t.is(discovered.code, 0, discovered.stderr);
  const found = jsonData(discovered.stdout) as Found[];
  t.is(found.length, 1, discovered.stdout);
  t.like(found[0] ?? {}, { port: 8080, protocolVersion: 1, tls: false });
  t.true(found[0]?.addresses.includes(lan.server.ip));

  const local = await tempDir(t);
  await randomFile(join(local, 'over-the-lan.bin'), 5 * 1024 * 1024);
  const up = await ferry(['-s', 'auto', 'upload', join(local, 'over-the-lan.bin')], onClient);
  t.is(up.code, 0, up.stderr);
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
