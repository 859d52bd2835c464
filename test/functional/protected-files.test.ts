/**
 * The server's own secrets are out of every home's reach, whatever the
 * configuration: here the users file is configured inside the storage root and
 * the admin's home is the whole root, yet no command lists, reads, replaces,
 * moves or deletes it, and logins keep working from it.
 */

import test from 'ava';
import { link, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { ADMIN, spawnServer } from '../helpers/server.js';

test('a users file configured inside the storage root cannot be listed, read, replaced, moved or deleted by a user whose home is /', async (t) => {
  t.timeout(120_000);
  const dataDir = await tempDir(t);
  const usersFile = join(dataDir, 'files', 'users.json');
  const server = await spawnServer(t, { FERRY_DATA_DIR: dataDir, FERRY_USERS_FILE: usersFile, FERRY_ADMIN_PASSWORD: ADMIN.password });
  const env = { FERRY_SERVER: `127.0.0.1:${server.port}`, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password };
  const before = await readFile(usersFile);
  // A second name for the same file, as a user with a shell on the host could make.
  await link(usersFile, join(dataDir, 'files', 'harmless.txt'));
  const local = await tempDir(t);
  await writeFile(join(local, 'users.json'), '{"admin":{"password":"mine now"}}');

  const listing = await ferry(['ls', '/', '--json'], { env });
  t.is(listing.code, 0, listing.stderr);
  t.notRegex(listing.stdout, /users\.json|harmless/);
  for (const args of [
    ['download', '/users.json', '-o', '-'],
    ['download', '/harmless.txt', '-o', '-'],
    ['stat', '/users.json'],
    ['upload', join(local, 'users.json'), '-d', '/'],
    ['rm', '/users.json'],
    ['mv', '/users.json', '/taken.json'],
    ['mkdir', '/users.json/inside'],
  ]) {
    const result = await ferry(args, { env });
    t.not(result.code, 0, `ferry ${args.join(' ')} succeeded`);
    t.notRegex(result.stdout, /scrypt|argon2|\$/, 'no hash is ever shown');
  }
  t.deepEqual(await readFile(usersFile), before, 'the users file is untouched');
  const again = await ferry(['ls', '/'], { env });
  t.is(again.code, 0, 'logins still work from the untouched users file');
});
