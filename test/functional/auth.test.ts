import test from 'ava';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../../src/protocol/errors.js';
import { ferry, ferryServer } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { ADMIN, READER, spawnServer, startServer } from '../helpers/server.js';

test('a wrong user name and a wrong password get exactly the same answer', async (t) => {
  const server = await startServer(t);
  const wrongUser = await ferry(['ls'], { env: { ...server.env, FERRY_USER: 'mallory' } });
  const wrongPassword = await ferry(['ls'], { env: { ...server.env, FERRY_PASSWORD: 'not-it' } });
  t.is(wrongUser.code, 3);
  t.is(wrongPassword.code, 3);
  t.is(wrongUser.stderr, wrongPassword.stderr);
  t.is(wrongUser.stdout, wrongPassword.stdout);
});

test('a read-only user can list and download but not upload, delete, rename or create folders', async (t) => {
  const server = await startServer(t);
  const admin = await server.connect();
  await admin.mkdir('/shared');
  const local = await tempDir(t);
  await writeFile(join(local, 'doc.txt'), 'read me');
  t.is((await ferry(['upload', join(local, 'doc.txt'), '-d', '/shared'], { env: server.env })).code, 0);

  const reader = await server.connect(READER);
  t.is((await reader.list('/shared')).length, 1);
  t.is((await reader.stat('/shared/doc.txt')).size, 7);
  const back = await tempDir(t);
  const env = { ...server.env, FERRY_USER: READER.user, FERRY_PASSWORD: READER.password };
  t.is((await ferry(['download', '/shared/doc.txt', '-d', back], { env })).code, 0);
  t.is(await readFile(join(back, 'doc.txt'), 'utf8'), 'read me');

  for (const args of [['upload', join(local, 'doc.txt')], ['rm', '/shared/doc.txt'], ['mv', '/shared/doc.txt', '/moved.txt'], ['mkdir', '/new']]) {
    const result = await ferry(args, { env });
    t.is(result.code, 7, `${args[0]}: ${result.stderr}`);
    t.regex(result.stderr, /your account may not/);
  }
  t.is((await admin.stat('/shared/doc.txt')).size, 7, 'the file is untouched');
});

test('users added, re-passworded and removed with ferry-server take effect without a restart', async (t) => {
  const server = await startServer(t);
  const admin = { FERRY_USERS_FILE: server.users.path, FERRY_DATA_DIR: server.dataDir };
  const asCarol = (password: string) => ferry(['ls'], { env: { ...server.env, FERRY_USER: 'carol', FERRY_PASSWORD: password } });

  t.is((await asCarol('carol-password-1')).code, 3, 'carol does not exist yet');
  const added = await ferryServer(['user', 'add', 'carol', '--password-stdin', '--home', '/carol'], { env: admin, input: 'carol-password-1\n' });
  t.is(added.code, 0, added.stderr);
  t.is((await asCarol('carol-password-1')).code, 0);

  const changed = await ferryServer(['user', 'passwd', 'carol', '--password-stdin'], { env: admin, input: 'carol-password-2\n' });
  t.is(changed.code, 0, changed.stderr);
  t.is((await asCarol('carol-password-1')).code, 3, 'the old password no longer works');
  t.is((await asCarol('carol-password-2')).code, 0);

  const listed = await ferryServer(['user', 'list'], { env: admin });
  t.regex(listed.stdout, /^carol\t\/carol\tlist,read,write,delete\tdefault \(unlimited\)$/m);

  t.is((await ferryServer(['user', 'remove', 'carol'], { env: admin })).code, 0);
  t.is((await asCarol('carol-password-2')).code, 3, 'a removed user cannot log in');
});

test('the users file holds salted argon2id hashes, never a password', async (t) => {
  const server = await startServer(t);
  const text = await readFile(server.users.path, 'utf8');
  t.false(text.includes(ADMIN.password));
  t.false(text.includes(READER.password));
  const users = (JSON.parse(text) as { users: Record<string, { password: string }> }).users;
  t.regex(users.admin?.password ?? '', /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
});

test('a user added without --home gets their own folder as home, and user list shows homes, rights and quotas', async (t) => {
  const dir = await tempDir(t);
  const env = { FERRY_DATA_DIR: dir, FERRY_QUOTA: '1GiB' };
  const guest = await ferryServer(['user', 'add', 'guest', '--read-only', '--password-stdin'], { env, input: 'guest-password\n' });
  t.is(guest.code, 0, guest.stderr);
  t.regex(guest.stdout, /home \/guest,/);
  const shared = await ferryServer(['user', 'add', 'team', '--home', '/', '--quota', '20GiB', '--password-stdin'], { env, input: 'team-password\n' });
  t.is(shared.code, 0, shared.stderr);
  const listed = await ferryServer(['user', 'list'], { env });
  t.is(listed.code, 0, listed.stderr);
  t.deepEqual(listed.stdout.trim().split('\n'), [
    'NAME\tHOME\tPERMISSIONS\tQUOTA (bytes)',
    'guest\t/guest\tlist,read\tdefault (1073741824)',
    'team\t/\tlist,read,write,delete\t21474836480',
  ]);
});

test('a guest added with the README command sees only its own folder, not the other users\' files', async (t) => {
  const server = await startServer(t);
  const admin = await server.connect();
  await admin.mkdir('/alice');
  const local = await tempDir(t);
  await writeFile(join(local, 'private.txt'), 'alice only');
  t.is((await ferry(['upload', join(local, 'private.txt'), '-d', '/alice'], { env: server.env })).code, 0);
  const env = { FERRY_USERS_FILE: server.users.path, FERRY_DATA_DIR: server.dataDir };
  t.is((await ferryServer(['user', 'add', 'guest', '--read-only', '--password-stdin'], { env, input: 'guest-password\n' })).code, 0);
  const guest = await server.connect({ user: 'guest', password: 'guest-password' });
  t.deepEqual(await guest.list('/'), []);
  const error = await t.throwsAsync(guest.stat('/alice/private.txt'));
  t.true(error instanceof FerryError && error.code === 'NOT_FOUND', String(error));
});

test('a hand edit that breaks the users file keeps the last good version in force', async (t) => {
  const server = await startServer(t);
  await (await server.connect()).quit();
  const good = await readFile(server.users.path, 'utf8');
  const temp = `${server.users.path}.new`;
  await writeFile(temp, '{ "users": { broken');
  await rename(temp, server.users.path);
  const client = await server.connect();
  t.truthy(await client.list('/'), 'admin still logs in');
  await writeFile(temp, good.replace('"reader"', '"reader2"'));
  await rename(temp, server.users.path);
  const error = await t.throwsAsync(server.connect(READER));
  t.true(error instanceof FerryError && error.code === 'AUTH_FAILED');
  t.truthy(await server.connect({ user: 'reader2', password: READER.password }));
});

test('ferry-server user add refuses short passwords and duplicate names', async (t) => {
  const dir = await tempDir(t);
  const env = { FERRY_DATA_DIR: dir };
  t.is((await ferryServer(['user', 'add', 'dave', '--password-stdin'], { env, input: 'short' })).code, 2);
  t.is((await ferryServer(['user', 'add', 'dave', '--password-stdin'], { env, input: 'long-enough' })).code, 0);
  const again = await ferryServer(['user', 'add', 'dave', '--password-stdin'], { env, input: 'long-enough' });
  t.is(again.code, 1);
  t.regex(again.stderr, /already exists/);
  const badName = await ferryServer(['user', 'add', 'no spaces', '--password-stdin'], { env, input: 'long-enough' });
  t.is(badName.code, 2);
});

test('first start creates admin with a random password in a file only the server user can read, never in the log', async (t) => {
  const dir = await tempDir(t);
  const server = await spawnServer(t, { FERRY_DATA_DIR: dir });
  const first = await server.waitForLog((line) => line.event === 'first-start');
  const file = first.passwordFile as string;
  t.is(file, join(dir, 'admin-password'));
  t.regex(String(first.msg), new RegExp(file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')), 'the log names the file');
  t.is((await stat(file)).mode & 0o777, 0o600);
  const password = (await readFile(file, 'utf8')).trim();
  t.regex(password, /^[A-Za-z0-9_-]{24}$/);
  t.false(JSON.stringify(server.logs).includes(password), 'the password is not in the log');
  const result = await ferry(['ls'], { env: { ...server.env, FERRY_USER: 'admin', FERRY_PASSWORD: password } });
  t.is(result.code, 0, result.stderr);
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);

  const again = await spawnServer(t, { FERRY_DATA_DIR: dir });
  t.false(again.logs.some((line) => line.event === 'first-start'), 'the password is shown only on the first start');
  again.child.kill('SIGTERM');
  t.is(await again.exited, 0);
});

test('first start takes the admin password from FERRY_ADMIN_PASSWORD and never logs it', async (t) => {
  const dir = await tempDir(t);
  const server = await spawnServer(t, { FERRY_DATA_DIR: dir, FERRY_ADMIN_PASSWORD: 'from-the-environment' });
  await server.waitForLog((line) => line.event === 'first-start');
  const result = await ferry(['ls'], { env: { ...server.env, FERRY_USER: 'admin', FERRY_PASSWORD: 'from-the-environment' } });
  t.is(result.code, 0, result.stderr);
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
  t.false(JSON.stringify(server.logs).includes('from-the-environment'));

  const again = await spawnServer(t, { FERRY_DATA_DIR: dir, FERRY_ADMIN_PASSWORD: 'a-new-one' });
  const warning = await again.waitForLog((line) => line.event === 'admin-password-ignored');
  t.regex(String(warning.msg), /FERRY_ADMIN_PASSWORD is set but .*users\.json already exists, so it is not used/);
  t.is(warning.level, 40, 'a warning');
  again.child.kill('SIGTERM');
  t.is(await again.exited, 0);
});

test('ferry-server config prints the effective configuration with secrets redacted', async (t) => {
  const result = await ferryServer(['config', '--port', '9123'], {
    env: { FERRY_ADMIN_PASSWORD: 'hunter2-secret', FERRY_S3_SECRET_ACCESS_KEY: 's3-secret', FERRY_DATA_DIR: '/srv/ferry' },
  });
  t.is(result.code, 0, result.stderr);
  const config = JSON.parse(result.stdout) as { server: { port: number }; dataDir: string; usersFile: string };
  t.is(config.server.port, 9123, 'a command-line flag wins');
  t.is(config.dataDir, '/srv/ferry');
  t.is(config.usersFile, '/srv/ferry/users.json');
  t.false(result.stdout.includes('hunter2-secret'));
  t.false(result.stdout.includes('s3-secret'));
});

test('an invalid setting stops the server with a message naming the key and its variable', async (t) => {
  const result = await ferryServer(['start'], { env: { FERRY_PORT: 'eighty', FERRY_DATA_DIR: await tempDir(t) } });
  t.is(result.code, 2);
  t.regex(result.stderr, /server\.port/);
  t.regex(result.stderr, /FERRY_PORT/);
});

test('a mistyped ferry-server command is refused with usage, not taken for start', async (t) => {
  const result = await ferryServer(['strat'], { env: { FERRY_DATA_DIR: await tempDir(t), FERRY_MDNS: 'false', FERRY_PORT: '0', FERRY_OPS_PORT: '0' } });
  t.is(result.code, 2);
  t.regex(result.stderr, /unknown command "strat"/);
});
