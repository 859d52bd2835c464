import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import selfsigned from 'selfsigned';
import { ferry, ferryServer } from '../helpers/cli.js';
import { randomFile, sha256File, tempDir } from '../helpers/files.js';
import { ADMIN, spawnServer, startServer } from '../helpers/server.js';

async function tlsServer(t: Parameters<typeof tempDir>[0], dataDir: string) {
  const server = await spawnServer(t, {
    FERRY_DATA_DIR: dataDir,
    FERRY_ADMIN_PASSWORD: ADMIN.password,
    FERRY_TLS_CERT: join(dataDir, 'tls', 'cert.pem'),
    FERRY_TLS_KEY: join(dataDir, 'tls', 'key.pem'),
  });
  const fingerprint = server.logs.find((line) => line.event === 'listening')?.fingerprint as string;
  return { server, fingerprint };
}

test.serial('a transfer over TLS pins the certificate on first use, and a changed certificate is refused until trusted again', async (t) => {
  const dataDir = await tempDir(t);
  const made = await ferryServer(['tls', 'init'], { env: { FERRY_DATA_DIR: dataDir } });
  t.is(made.code, 0, made.stderr);
  const first = await tlsServer(t, dataDir);
  t.true(made.stdout.includes(first.fingerprint), 'tls init printed the fingerprint the server shows');

  const knownHosts = join(await tempDir(t), 'known_hosts');
  const where = `127.0.0.1:${first.server.port}`;
  const env = { FERRY_SERVER: where, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password, FERRY_KNOWN_HOSTS: knownHosts };
  const local = await tempDir(t);
  await randomFile(join(local, 'secret.bin'), 3 * 1024 * 1024);
  const up = await ferry(['--tls', 'upload', join(local, 'secret.bin')], { env });
  t.is(up.code, 0, up.stderr);
  t.regex(up.stderr, /first TLS connection to 127\.0\.0\.1:\d+; trusting its certificate SHA256/);
  t.is((await readFile(knownHosts, 'utf8')).trim(), `${where} ${first.fingerprint}`);
  const back = await tempDir(t);
  const down = await ferry(['--tls', 'download', '/secret.bin', '-d', back], { env });
  t.is(down.code, 0, down.stderr);
  t.is(down.stderr, '', 'no first-use notice the second time');
  t.is(await sha256File(join(back, 'secret.bin')), await sha256File(join(local, 'secret.bin')));

  // The server gets a new certificate on the same address.
  first.server.child.kill('SIGTERM');
  t.is(await first.server.exited, 0);
  t.is((await ferryServer(['tls', 'init', '--force'], { env: { FERRY_DATA_DIR: dataDir } })).code, 0);
  const second = await tlsServer(t, dataDir);
  const moved = { ...env, FERRY_SERVER: `127.0.0.1:${second.server.port}` };
  await writeFile(knownHosts, `127.0.0.1:${second.server.port} ${first.fingerprint}\n`);
  const refused = await ferry(['--tls', 'ls'], { env: moved });
  t.is(refused.code, 6, refused.stderr);
  t.true(refused.stderr.includes(`it was SHA256 ${first.fingerprint}, it is now SHA256 ${second.fingerprint}`), refused.stderr);
  t.true(refused.stderr.includes(`accept it with: ferry --tls -s 127.0.0.1:${second.server.port} trust`), refused.stderr);
  const trusted = await ferry(['--tls', '-s', `127.0.0.1:${second.server.port}`, 'trust'], { env: moved });
  t.is(trusted.code, 0, trusted.stderr);
  t.is((await ferry(['--tls', 'ls'], { env: moved })).code, 0, 'after trust, the new certificate is accepted');
  second.server.child.kill('SIGTERM');
  t.is(await second.server.exited, 0);
});

test('a plain client talking to a TLS server, and a TLS client talking to a plain one, get a clear message', async (t) => {
  const dataDir = await tempDir(t);
  t.is((await ferryServer(['tls', 'init'], { env: { FERRY_DATA_DIR: dataDir } })).code, 0);
  const secure = await tlsServer(t, dataDir);
  const knownHosts = join(await tempDir(t), 'known_hosts');
  const plainToTls = await ferry(['--retries', '0', 'ls'], {
    env: { FERRY_SERVER: `127.0.0.1:${secure.server.port}`, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password },
  });
  t.is(plainToTls.code, 5);
  t.regex(plainToTls.stderr, /if it uses TLS, add --tls/);

  const plain = await startServer(t);
  const tlsToPlain = await ferry(['--tls', '--retries', '0', 'ls'], { env: { ...plain.env, FERRY_KNOWN_HOSTS: knownHosts } });
  t.is(tlsToPlain.code, 5);
  t.regex(tlsToPlain.stderr, /does not speak TLS; connect without --tls/);
  secure.server.child.kill('SIGTERM');
  t.is(await secure.server.exited, 0);
});

test('with --ca the certificate is verified against the CA instead of pinned, and another CA is refused', async (t) => {
  const ca = await selfsigned.generate([{ name: 'commonName', value: 'Ferry test CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true }],
  });
  const leaf = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
  });
  const server = await startServer(t, { tls: { cert: Buffer.from(leaf.cert), key: Buffer.from(leaf.private) } });
  const dir = await tempDir(t);
  await writeFile(join(dir, 'ca.pem'), ca.cert);
  const knownHosts = join(dir, 'known_hosts');
  const ok = await ferry(['--ca', join(dir, 'ca.pem'), 'mkdir', '/verified'], { env: { ...server.env, FERRY_KNOWN_HOSTS: knownHosts } });
  t.is(ok.code, 0, ok.stderr);
  await t.throwsAsync(readFile(knownHosts), undefined, 'nothing is pinned when a CA vouches');

  const other = await selfsigned.generate([{ name: 'commonName', value: 'Another CA' }], { keyType: 'ec', algorithm: 'sha256', extensions: [{ name: 'basicConstraints', cA: true }] });
  await writeFile(join(dir, 'other.pem'), other.cert);
  const refused = await ferry(['--ca', join(dir, 'other.pem'), '--retries', '0', 'ls'], { env: server.env });
  t.is(refused.code, 6, refused.stderr);
  t.regex(refused.stderr, /not signed by the CA you gave/);
});
