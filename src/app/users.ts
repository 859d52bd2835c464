/**
 * The users file as the service opens it, and the first start that creates it
 * with an admin account.
 */

import { chmod, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { UserDirectory } from '../auth/users.js';
import type { Config } from '../config/config.js';
import { settingName } from '../config/schema.js';
import { ConcurrencyLimit } from '../io/concurrency-limit.js';

/** Where the generated first-start admin password is kept: next to the users file. */
export function adminPasswordFile(config: Config): string {
  return join(dirname(resolve(config.get('usersFile'))), 'admin-password');
}

/** Writes a secret readable by this user alone, replacing any older file whole. */
async function writePrivateFile(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, text, { mode: 0o600 });
  await chmod(temp, 0o600); // In case an older temp file was there with a looser mode.
  await rename(temp, path);
}

/** The users file as the service uses it: password checks bounded, upgrade failures logged. */
export function openUsers(config: Config, logger: Logger): UserDirectory {
  return new UserDirectory(resolve(config.get('usersFile')), {
    passwordChecks: new ConcurrencyLimit(Math.max(1, config.get('limits.passwordChecks'))),
    rehash: config.get('rehashPasswords'),
    upgradeFailed: (user, error) =>
      logger.warn({ event: 'rehash-failed', user, err: error }, `could not store a stronger hash for ${user}; it is tried again at the next login`),
  });
}

/**
 * Loads the users file, creating it with the first-start admin when there is none.
 * A generated password goes to a file only this user can read, never to the log,
 * which is often shipped to places many people read.
 */
export async function prepareUsers(config: Config, logger: Logger): Promise<UserDirectory> {
  const usersFile = resolve(config.get('usersFile'));
  const users = openUsers(config, logger);
  const adminPassword = config.get('adminPassword') || undefined;
  const first = await users.ensureExists(adminPassword);
  if (first.generatedPassword) {
    const file = adminPasswordFile(config);
    await writePrivateFile(file, `${first.generatedPassword}\n`);
    logger.warn(
      { event: 'first-start', user: 'admin', passwordFile: file },
      `created user "admin"; its password is in ${file} (readable by this user only): read it, then change it with: ferry-server user passwd admin, and delete the file`,
    );
  } else if (first.created) {
    logger.info({ event: 'first-start', user: 'admin' }, `created user "admin" with the password from ${settingName('adminPassword')}`);
  } else if (adminPassword !== undefined) {
    logger.warn(
      { event: 'admin-password-ignored', usersFile },
      `${settingName('adminPassword')} is set but ${usersFile} already exists, so it is not used: change the password with: ferry-server user passwd admin, and unset ${settingName('adminPassword')}`,
    );
  }
  return users;
}
