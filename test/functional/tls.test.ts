import test from 'ava';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import selfsigned from 'selfsigned';
import { ferry, ferryServer } from '../helpers/cli.js';
import { randomFile, sha256File, tempDir } from '../helpers/files.js';
import { ADMIN, spawnServer, startServer } from '../helpers/server.js';

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;
/** A mismatch must be told at once, not after a timeout: well under the 10 s connect timeout. */
const PROMPT_ANSWER_MS = 5_000;

async function defaultServer(t: Parameters<typeof tempDir>[0], dataDir: string, env: Record<string, string> = {}) {
  return spawnServer(t, { FERRY_DATA_DIR: dataDir, FERRY_ADMIN_PASSWORD: ADMIN.password, ...env });
}

const login = { FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password };

/** A test CA, and a certificate for `localhost` it signed, valid for `altNames`. */
async function caAndLeaf(altNames: ({ type: 2; value: string } | { type: 7; ip: string })[]) {
  const ca = await selfsigned.generate([{ name: 'commonName', value: 'Ferry test CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true }],
  });
  const leaf = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [{ name: 'subjectAltName', altNames }],
  });
  return { ca, leaf };
}

test('a server started with no TLS settings makes its certificate in the data folder, logs its fingerprint with the addresses, and keeps it across restarts', async (t) => {
  const dataDir = await tempDir(t);
  const server = await defaultServer(t, dataDir);
  const created = server.logs.find((line) => line.event === 'tls-certificate-created');
  t.truthy(created, 'the first start says it made a certificate');
  const listening = server.logs.find((line) => line.event === 'listening');
  t.regex(String(listening?.fingerprint), FINGERPRINT);
  t.true(String(listening?.msg).includes(`certificate fingerprint ${String(listening?.fingerprint)}`), String(listening?.msg));
  t.true((await stat(join(dataDir, 'tls', 'cert.pem'))).isFile());
  t.is((await stat(join(dataDir, 'tls', 'key.pem'))).mode & 0o777, 0o600, 'the key is readable by the server user only');
  for (const line of server.logs.filter((entry) => entry.event === 'lan-address')) {
    t.true(String(line.msg).includes(`--fingerprint ${String(listening?.fingerprint)}`), 'the suggested command pins the fingerprint');
  }
  t.false(server.logs.some((line) => line.event === 'plain'), 'no plain-text warning with TLS');
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);

  const again = await defaultServer(t, dataDir);
  t.is(again.fingerprint, listening?.fingerprint as string, 'a restart keeps the certificate');
  t.false(again.logs.some((line) => line.event === 'tls-certificate-created'));
  const checked = await ferryServer(['tls', 'init'], { env: { FERRY_DATA_DIR: dataDir } });
  t.is(checked.code, 1, 'tls init does not overwrite the certificate made at first start');
  again.child.kill('SIGTERM');
  t.is(await again.exited, 0);
});

test('in cluster mode the primary makes the one certificate, and every worker serves it', async (t) => {
  const dataDir = await tempDir(t);
  const server = await defaultServer(t, dataDir, { FERRY_WORKERS: '2' });
  await server.waitForLog((line) => line.event === 'workers-ready');
  t.is(server.logs.filter((line) => line.event === 'tls-certificate-created').length, 1, 'made once');
  t.falsy(server.logs.find((line) => line.event === 'tls-certificate-created')?.worker, 'by the primary, not a worker');
  // Connections spread over both workers; each must show the logged certificate.
  const runs = await Promise.all(Array.from({ length: 6 }, () => ferry(['--retries', '0', 'ls'], { env: { ...server.env, ...login } })));
  for (const run of runs) t.is(run.code, 0, run.stderr);
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});

test('a client pins on first use with a notice when no one can be asked, stays quiet after, refuses a changed certificate, and ferry trust accepts it', async (t) => {
  const dataDir = await tempDir(t);
  const first = await defaultServer(t, dataDir);
  const knownHosts = join(await tempDir(t), 'known_hosts');
  const where = `127.0.0.1:${first.port}`;
  const env = { FERRY_SERVER: where, ...login, FERRY_KNOWN_HOSTS: knownHosts };
  const local = await tempDir(t);
  await randomFile(join(local, 'secret.bin'), 3 * 1024 * 1024);
  const up = await ferry(['upload', join(local, 'secret.bin')], { env });
  t.is(up.code, 0, up.stderr);
  t.true(up.stderr.includes(`first TLS connection to ${where}; trusting its certificate ${first.fingerprint}`), up.stderr);
  t.is((await readFile(knownHosts, 'utf8')).trim(), `${where} ${first.fingerprint}`);
  const back = await tempDir(t);
  const down = await ferry(['download', '/secret.bin', '-d', back], { env });
  t.is(down.code, 0, down.stderr);
  t.is(down.stderr, '', 'no notice the second time');
  t.is(await sha256File(join(back, 'secret.bin')), await sha256File(join(local, 'secret.bin')));

  // The server gets a new certificate on the same address.
  first.child.kill('SIGTERM');
  t.is(await first.exited, 0);
  t.is((await ferryServer(['tls', 'init', '--force'], { env: { FERRY_DATA_DIR: dataDir } })).code, 0);
  const second = await defaultServer(t, dataDir);
  t.not(second.fingerprint, first.fingerprint);
  const secondWhere = `127.0.0.1:${second.port}`;
  const moved = { ...env, FERRY_SERVER: secondWhere };
  await writeFile(knownHosts, `${secondWhere} ${first.fingerprint}\n`);
  const refused = await ferry(['ls'], { env: moved });
  t.is(refused.code, 6, refused.stderr);
  t.true(refused.stderr.includes(`it was ${first.fingerprint}, it is now ${second.fingerprint}`), refused.stderr);
  t.true(refused.stderr.includes(`accept it with: ferry -s ${secondWhere} trust`), refused.stderr);
  const trusted = await ferry(['-s', secondWhere, 'trust'], { env: moved });
  t.is(trusted.code, 0, trusted.stderr);
  t.true(trusted.stderr.includes(`replacing the pinned certificate of ${secondWhere}`), trusted.stderr);
  t.is((await ferry(['ls'], { env: moved })).code, 0, 'after trust, the new certificate is accepted');
  second.child.kill('SIGTERM');
  t.is(await second.exited, 0);
});

test('--fingerprint in the form the server logs pins it up front; another fingerprint is refused, a malformed one is a usage error', async (t) => {
  const server = await startServer(t);
  const knownHosts = join(await tempDir(t), 'known_hosts');
  const env = { FERRY_SERVER: server.env.FERRY_SERVER as string, ...login, FERRY_KNOWN_HOSTS: knownHosts };
  const pinned = await ferry(['--fingerprint', server.fingerprint as string, 'mkdir', '/pinned'], { env });
  t.is(pinned.code, 0, pinned.stderr);
  t.is(pinned.stderr, '', 'nothing to ask or tell when the fingerprint is given');
  t.is((await readFile(knownHosts, 'utf8')).trim(), `${server.env.FERRY_SERVER} ${server.fingerprint}`);
  const doctor = await ferry(['doctor'], { env });
  t.regex(doctor.stdout, new RegExp(`^ok +tls +certificate ${server.fingerprint?.replaceAll('+', '\\+')} matches the pinned fingerprint`, 'm'), doctor.stdout);

  const other = `SHA256:${Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '')}`;
  const refused = await ferry(['--fingerprint', other, '--retries', '0', 'ls'], { env });
  t.is(refused.code, 6, refused.stderr);
  t.true(refused.stderr.includes(`has fingerprint ${server.fingerprint}, not ${other} as you gave with --fingerprint`), refused.stderr);

  const malformed = await ferry(['--fingerprint', 'SHA256:nonsense', 'ls'], { env });
  t.is(malformed.code, 2, malformed.stderr);
  t.regex(malformed.stderr, /is not a certificate fingerprint/);
  t.is((await ferry(['--fingerprint', server.fingerprint as string, '--no-tls', 'ls'], { env })).code, 2, '--fingerprint with --no-tls is a contradiction');
});

test('FERRY_TLS=false runs a plain server that warns at start; the client needs --no-tls (or FERRY_TLS=false), and warns too', async (t) => {
  const dataDir = await tempDir(t);
  const plain = await defaultServer(t, dataDir, { FERRY_TLS: 'false' });
  const warning = plain.logs.find((line) => line.event === 'plain');
  t.is(warning?.level, 40, 'a warning');
  t.regex(String(warning?.msg), /TLS is off/);
  t.is(plain.fingerprint, undefined);
  for (const line of plain.logs.filter((entry) => entry.event === 'lan-address')) t.true(String(line.msg).includes('--no-tls'));
  const env = { FERRY_SERVER: `127.0.0.1:${plain.port}`, ...login };

  const started = Date.now();
  const tlsToPlain = await ferry(['--retries', '0', 'ls'], { env });
  t.true(Date.now() - started < PROMPT_ANSWER_MS + 5_000, 'answered at once, no hang');
  t.is(tlsToPlain.code, 5, tlsToPlain.stderr);
  t.true(tlsToPlain.stderr.includes('does not speak TLS'), tlsToPlain.stderr);
  t.true(tlsToPlain.stderr.includes('add --no-tls'), tlsToPlain.stderr);
  t.is(tlsToPlain.stderr.trim().split('\n').length, 1, `one message: ${tlsToPlain.stderr}`);

  for (const [how, args, extra] of [
    ['--no-tls', ['--no-tls'], {}],
    ['FERRY_TLS=false', [], { FERRY_TLS: 'false' }],
  ] as const) {
    const result = await ferry([...args, 'ls'], { env: { ...env, ...extra } });
    t.is(result.code, 0, `${how}: ${result.stderr}`);
    t.regex(result.stderr, /warning: TLS is off/, how);
  }
  const doctor = await ferry(['--no-tls', 'doctor'], { env });
  t.is(doctor.code, 0, doctor.stdout + doctor.stderr);
  t.regex(doctor.stdout, /^warn tls +off: the password and files cross the network readable/m, 'doctor flags plain TCP');
  t.regex(doctor.stdout, /fix: turn TLS back on: remove FERRY_TLS=false from the server/);
  plain.child.kill('SIGTERM');
  t.is(await plain.exited, 0);
});

test('a plain client that reaches a TLS server is told at once to drop --no-tls', async (t) => {
  const server = await startServer(t);
  const started = Date.now();
  const result = await ferry(['--no-tls', '--retries', '0', 'ls'], { env: { FERRY_SERVER: server.env.FERRY_SERVER as string, ...login } });
  t.true(Date.now() - started < PROMPT_ANSWER_MS + 5_000, 'answered at once, no hang');
  t.is(result.code, 5, result.stderr);
  const lines = result.stderr.trim().split('\n').filter((line) => !/warning: TLS is off/.test(line));
  t.is(lines.length, 1, result.stderr);
  t.regex(lines[0] ?? '', /speaks TLS \(the default\): drop --no-tls/);
  t.notRegex(result.stderr, /[\u0000-\u0008\u000e-\u001f]/, 'no garbage bytes');
});

test('with --ca the certificate is verified against the CA instead of pinned, and another CA is refused', async (t) => {
  const { ca, leaf } = await caAndLeaf([{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }]);
  const server = await startServer(t, { tls: { cert: leaf.cert, key: leaf.private } });
  const dir = await tempDir(t);
  await writeFile(join(dir, 'ca.pem'), ca.cert);
  const knownHosts = join(dir, 'known_hosts');
  const env = { FERRY_SERVER: server.env.FERRY_SERVER as string, ...login, FERRY_KNOWN_HOSTS: knownHosts };
  const ok = await ferry(['--ca', join(dir, 'ca.pem'), 'mkdir', '/verified'], { env });
  t.is(ok.code, 0, ok.stderr);
  await t.throwsAsync(readFile(knownHosts), undefined, 'nothing is pinned when a CA vouches');

  const other = await selfsigned.generate([{ name: 'commonName', value: 'Another CA' }], { keyType: 'ec', algorithm: 'sha256', extensions: [{ name: 'basicConstraints', cA: true }] });
  await writeFile(join(dir, 'other.pem'), other.cert);
  const refused = await ferry(['--ca', join(dir, 'other.pem'), '--retries', '0', 'ls'], { env });
  t.is(refused.code, 6, refused.stderr);
  t.regex(refused.stderr, /not signed by the CA you gave/);
});

test('doctor reaches a server by the name the other commands use: the pin made by ls matches, and a CA vouching for the name only is accepted', async (t) => {
  // The name only, no IP address: verification by the resolved address would fail.
  const { ca, leaf } = await caAndLeaf([{ type: 2, value: 'localhost' }]);
  const server = await startServer(t, { tls: { cert: leaf.cert, key: leaf.private } });
  const dir = await tempDir(t);
  await writeFile(join(dir, 'ca.pem'), ca.cert);
  const knownHosts = join(dir, 'known_hosts');
  const env = { FERRY_SERVER: `localhost:${server.port}`, ...login, FERRY_KNOWN_HOSTS: knownHosts };

  const pinned = await ferry(['ls'], { env });
  t.is(pinned.code, 0, pinned.stderr);
  const doctor = await ferry(['doctor'], { env });
  t.regex(doctor.stdout, /^ok +tls +certificate \S+ matches the pinned fingerprint/m, doctor.stdout + doctor.stderr);
  t.notRegex(doctor.stderr, /first TLS connection/, 'no second first-use question');
  t.deepEqual((await readFile(knownHosts, 'utf8')).trim().split('\n'), [`localhost:${server.port} ${server.fingerprint}`], 'one pin, under the name');

  const verified = await ferry(['--ca', join(dir, 'ca.pem'), 'doctor'], { env });
  t.regex(verified.stdout, /^ok +tls +certificate verified against the CA/m, verified.stdout + verified.stderr);
  t.regex(verified.stdout, /^ok +login/m, verified.stdout);
});
