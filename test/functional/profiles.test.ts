/**
 * Saved servers and the password sources, through the real CLI: `config add`
 * saves what was typed, `-s NAME` uses it (options typed again win), the TLS
 * fields of a profile take effect, and the password comes from
 * FERRY_PASSWORD_FILE or --password-command (a profile's too).
 */

import test, { type ExecutionContext } from 'ava';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { READER, startServer, type TestServer } from '../helpers/server.js';

async function configHome(t: ExecutionContext): Promise<string> {
  return tempDir(t, 'ferry-config-');
}

async function saveNas(server: TestServer, config: string, ...extra: string[]): Promise<void> {
  const saved = await ferry(['-s', `127.0.0.1:${server.port}`, '-u', 'admin', ...extra, 'config', 'add', 'nas'], { env: { XDG_CONFIG_HOME: config } });
  if (saved.code !== 0) throw new Error(saved.stderr);
}

test('config add saves the typed connection options in XDG_CONFIG_HOME/ferry/config.json, readable by its owner only, and config shows them', async (t) => {
  const server = await startServer(t);
  const config = await configHome(t);
  const saved = await ferry(['-s', `127.0.0.1:${server.port}`, '-u', 'admin', '--password-command', 'cat /run/secret', 'config', 'add', 'nas'], { env: { XDG_CONFIG_HOME: config } });
  t.is(saved.code, 0, saved.stderr);
  t.regex(saved.stdout, /saved server "nas": 127\.0\.0\.1:\d+, user admin, TLS, password from a command/);
  const file = join(config, 'ferry', 'config.json');
  t.deepEqual(JSON.parse(await readFile(file, 'utf8')), { servers: { nas: { host: '127.0.0.1', port: server.port, user: 'admin', passwordCommand: 'cat /run/secret' } } });
  t.is((await stat(file)).mode & 0o777, 0o600);
  const shown = await ferry(['config'], { env: { XDG_CONFIG_HOME: config } });
  t.is(shown.code, 0, shown.stderr);
  t.true(shown.stdout.includes(`config file: ${file}`));
  t.regex(shown.stdout, /^ {2}nas\t127\.0\.0\.1:\d+, user admin/m);
  const again = await ferry(['config', 'add', 'nas', 'nas.local:9000'], { env: { XDG_CONFIG_HOME: config } });
  t.regex(again.stdout, /replaced server "nas": nas\.local:9000/);
  const removed = await ferry(['config', 'remove', 'nas'], { env: { XDG_CONFIG_HOME: config } });
  t.is(removed.code, 0, removed.stderr);
  t.deepEqual(JSON.parse(await readFile(file, 'utf8')), { servers: {} });
});

test('ferry -s NAME connects with the saved server; an option typed on the command line wins over the profile', async (t) => {
  const server = await startServer(t);
  const config = await configHome(t);
  await saveNas(server, config);
  const env = { XDG_CONFIG_HOME: config, FERRY_PASSWORD: server.env.FERRY_PASSWORD as string };
  const made = await ferry(['-s', 'nas', 'mkdir', '/from-profile'], { env });
  t.is(made.code, 0, made.stderr);
  const listed = await ferry(['-s', 'nas', 'ls'], { env });
  t.regex(listed.stdout, /from-profile\//);
  // -u reader beats the profile's admin: the reader may not write.
  const asReader = await ferry(['-s', 'nas', '-u', READER.user, 'mkdir', '/denied'], { env: { ...env, FERRY_PASSWORD: READER.password } });
  t.is(asReader.code, 7, asReader.stderr);
  // Without -s, the profile is not used.
  const unnamed = await ferry(['--retries', '0', 'ls'], { env: { ...env, FERRY_SERVER: '127.0.0.1:1', FERRY_USER: 'admin' } });
  t.is(unnamed.code, 5);
});

test("a profile's TLS fields take effect: fingerprint pins, tls false is plain TCP, tls true speaks TLS, ca names the CA file to verify against", async (t) => {
  const secure = await startServer(t);
  const plain = await startServer(t, { tls: false });
  const otherFingerprint = `SHA256:${'A'.repeat(43)}`;
  const config = await configHome(t);
  const env = { XDG_CONFIG_HOME: config, FERRY_PASSWORD: secure.env.FERRY_PASSWORD as string, HOME: config };
  const at = (server: TestServer) => ({ host: '127.0.0.1', port: server.port, user: 'admin' });
  const profiles = {
    servers: {
      pinned: { ...at(secure), fingerprint: secure.fingerprint },
      wrongpin: { ...at(secure), fingerprint: otherFingerprint },
      plain: { ...at(plain), tls: false },
      tls: { ...at(plain), tls: true },
      ca: { ...at(secure), ca: join(config, 'no-such-ca.pem') },
    },
  };
  await mkdir(join(config, 'ferry'));
  await writeFile(join(config, 'ferry', 'config.json'), JSON.stringify(profiles));
  // Pinned up front: no first-use trust, nothing recorded on its say-so.
  const pinned = await ferry(['--retries', '0', '-s', 'pinned', 'ls'], { env });
  t.is(pinned.code, 0, pinned.stderr);
  t.notRegex(pinned.stderr, /first TLS connection/);
  const wrongpin = await ferry(['--retries', '0', '-s', 'wrongpin', 'ls'], { env });
  t.is(wrongpin.code, 6, wrongpin.stderr);
  t.true(wrongpin.stderr.includes(`not ${otherFingerprint} as you gave`), wrongpin.stderr);
  // tls false reaches a plain server (with the warning that goes with it).
  const plainRun = await ferry(['--retries', '0', '-s', 'plain', 'ls'], { env });
  t.is(plainRun.code, 0, plainRun.stderr);
  t.regex(plainRun.stderr, /TLS is off/);
  // tls true against the same plain server: a client that applied it cannot talk to it.
  const tls = await ferry(['--retries', '0', '-s', 'tls', 'ls'], { env });
  t.is(tls.code, 5, tls.stderr);
  t.regex(tls.stderr, /TLS|handshake/);
  const ca = await ferry(['--retries', '0', '-s', 'ca', 'ls'], { env });
  t.is(ca.code, 2, ca.stderr);
  t.regex(ca.stderr, /cannot read the CA certificate .*no-such-ca\.pem/);
  // The profile's trust stands whole: the environment's, meant for another server, neither mixes in nor clashes.
  const plainBesideEnvPin = await ferry(['--retries', '0', '-s', 'plain', 'ls'], { env: { ...env, FERRY_FINGERPRINT: otherFingerprint } });
  t.is(plainBesideEnvPin.code, 0, plainBesideEnvPin.stderr);
  const pinnedBesideEnvPlain = await ferry(['--retries', '0', '-s', 'pinned', 'ls'], { env: { ...env, FERRY_TLS: 'false' } });
  t.is(pinnedBesideEnvPlain.code, 0, pinnedBesideEnvPlain.stderr);
  t.notRegex(pinnedBesideEnvPlain.stderr, /TLS is off/);
  // A trust option typed on the command line still wins over the profile's.
  const typed = await ferry(['--retries', '0', '-s', 'wrongpin', '--fingerprint', secure.fingerprint as string, 'ls'], { env });
  t.is(typed.code, 0, typed.stderr);
});

test('the password comes from FERRY_PASSWORD_FILE (one trailing line break dropped; a file others can read is warned about)', async (t) => {
  const server = await startServer(t);
  const dir = await tempDir(t);
  const file = join(dir, 'password');
  await writeFile(file, `${server.env.FERRY_PASSWORD}\n`, { mode: 0o600 });
  const env = { FERRY_SERVER: server.env.FERRY_SERVER as string, FERRY_USER: 'admin', FERRY_PASSWORD_FILE: file };
  const ok = await ferry(['ls'], { env });
  t.is(ok.code, 0, ok.stderr);
  t.notRegex(ok.stderr, /warning/);
  await chmod(file, 0o644);
  const shared = await ferry(['ls'], { env });
  t.is(shared.code, 0, shared.stderr);
  t.regex(shared.stderr, /warning: the password file .* can be read by other users; chmod 600/);
  const missing = await ferry(['ls'], { env: { ...env, FERRY_PASSWORD_FILE: join(dir, 'nope') } });
  t.is(missing.code, 2);
  t.regex(missing.stderr, /cannot read the password file .*nope \(FERRY_PASSWORD_FILE\)/);
});

test("the password comes from --password-command, or from the saved server's password command; a failing command says so", async (t) => {
  const server = await startServer(t);
  const config = await configHome(t);
  const env = { FERRY_SERVER: server.env.FERRY_SERVER as string, FERRY_USER: 'admin', XDG_CONFIG_HOME: config };
  const ok = await ferry(['--password-command', `printf '%s\\n' '${server.env.FERRY_PASSWORD}'`, 'ls'], { env });
  t.is(ok.code, 0, ok.stderr);
  const failing = await ferry(['--password-command', 'exit 3', 'ls'], { env });
  t.is(failing.code, 2);
  t.regex(failing.stderr, /the password command "exit 3" failed \(exit code 3\)/);
  const wrong = await ferry(['--password-command', 'echo wrong', 'ls'], { env });
  t.is(wrong.code, 3, 'a wrong password from a command is not asked again');
  await saveNas(server, config, '--password-command', `echo ${server.env.FERRY_PASSWORD}`);
  const viaProfile = await ferry(['-s', 'nas', 'ls'], { env: { XDG_CONFIG_HOME: config } });
  t.is(viaProfile.code, 0, viaProfile.stderr);
});

test('a broken config file is reported with its path when -s is used, and a bad profile name is refused', async (t) => {
  const config = await configHome(t);
  await mkdir(join(config, 'ferry'));
  await writeFile(join(config, 'ferry', 'config.json'), '{"servers": {"nas": {"host": "a", "colour": "red"}}}');
  const broken = await ferry(['-s', 'nas', 'ls'], { env: { XDG_CONFIG_HOME: config } });
  t.is(broken.code, 2);
  t.regex(broken.stderr, /config\.json: servers\.nas\.colour is not a profile field/);
  const badName = await ferry(['config', 'add', 'my nas', 'h:1'], { env: { XDG_CONFIG_HOME: join(config, 'other') } });
  t.is(badName.code, 2);
  t.regex(badName.stderr, /"my nas" cannot name a saved server/);
});
