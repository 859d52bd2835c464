/**
 * A user's record in the users file, and the checks that file's text must pass
 * before it is put in force: valid names, hashes, homes, permissions and quotas.
 * The credential a session holds is derived here too, so that a rehash can be told
 * from a new password.
 */

import { createHash } from 'node:crypto';
import { ferryError } from '../protocol/errors.js';
import { PERMISSIONS, type Permission } from '../protocol/messages.js';
import { parseRemotePath } from '../protocol/paths.js';
import { isPasswordHash } from './password.js';

export interface UserRecord {
  /** Password hash (argon2id; scrypt from older versions), never the password. */
  password: string;
  /**
   * Set when the hash was upgraded at a login: the credential of the hash it
   * replaced, so live sessions can tell a rehash from a new password.
   */
  upgradedFrom?: string;
  /** Home folder relative to the storage root, `/`-separated. */
  home: string;
  permissions: Permission[];
  /** Bytes this user's home may hold; absent means the server's default (FERRY_QUOTA). */
  quota?: number;
}

export interface User extends UserRecord {
  name: string;
}

export interface UsersFileContent {
  version: 1;
  users: Record<string, UserRecord>;
}

/** What a session holds on to (a digest of the hash): it ends when this changes, unless by a rehash. */
export function credentialOf(record: UserRecord): string {
  return createHash('sha256').update(record.password).digest('base64url').slice(0, 22);
}

/** Whether `record` still holds the credential a session logged in with, as it is or rehashed. */
export function holdsCredential(record: UserRecord, credential: string): boolean {
  return credentialOf(record) === credential || record.upgradedFrom === credential;
}

export const ALL_PERMISSIONS: Permission[] = [...PERMISSIONS];
export const READ_ONLY_PERMISSIONS: Permission[] = ['list', 'read'];
const USER_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export function checkUserName(name: string): void {
  if (!USER_NAME.test(name)) {
    throw ferryError('USAGE', `"${name}" is not a valid user name: use 1 to 64 letters, digits, ".", "_" or "-"`);
  }
}

export function parseUsersFile(text: string, path: string): UsersFileContent {
  const fail = (why: string): never => {
    throw ferryError('CONFIG', `the users file ${path} is invalid: ${why}`);
  };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return fail((error as Error).message);
  }
  if (typeof data !== 'object' || data === null || !('users' in data)) return fail('it needs a "users" object');
  const users = (data as { users: unknown }).users;
  if (typeof users !== 'object' || users === null || Array.isArray(users)) return fail('"users" must be an object');
  const checked: Record<string, UserRecord> = {};
  for (const [name, value] of Object.entries(users)) {
    const record = value as Partial<UserRecord>;
    if (typeof record.password !== 'string' || !isPasswordHash(record.password)) {
      fail(`user "${name}" has no valid password hash (set one with: ferry-server user passwd ${name})`);
    }
    const upgradedFrom = record.upgradedFrom;
    if (upgradedFrom !== undefined && typeof upgradedFrom !== 'string') return fail(`user "${name}" has an "upgradedFrom" that is not a string`);
    const home = record.home ?? '/';
    if (typeof home !== 'string') return fail(`user "${name}" has a home that is not a string`);
    try {
      parseRemotePath(home);
    } catch (error) {
      fail(`user "${name}" has an unusable home "${home}": ${(error as Error).message}`);
    }
    const permissions = record.permissions ?? ALL_PERMISSIONS;
    if (!Array.isArray(permissions) || !permissions.every((p) => (PERMISSIONS as readonly string[]).includes(p))) {
      fail(`user "${name}" has permissions other than ${PERMISSIONS.join(', ')}`);
    }
    const quota = record.quota;
    if (quota !== undefined && (typeof quota !== 'number' || !Number.isSafeInteger(quota) || quota < 0)) {
      fail(`user "${name}" has a quota that is not a whole number of bytes`);
    }
    checked[name] = {
      password: record.password as string,
      ...(upgradedFrom !== undefined ? { upgradedFrom } : {}),
      home,
      permissions,
      ...(quota !== undefined ? { quota } : {}),
    };
  }
  return { version: 1, users: checked };
}
