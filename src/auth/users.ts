/**
 * The users file: each user's scrypt hash, home folder and permissions.
 *
 * The server re-reads the file whenever its identity (inode, size, mtime) changes,
 * checked on every login, so edits apply without a restart and without a watcher
 * that can miss an atomic replace. A file that fails to parse keeps the last good
 * version in force. Writes go to a temporary file renamed over the original.
 */

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ferryError, systemErrorCode } from '../protocol/errors.js';
import { PERMISSIONS, type Permission } from '../protocol/messages.js';
import { parseRemotePath } from '../protocol/paths.js';
import { hashPassword, isPasswordHash, verifyPassword } from './password.js';

export interface UserRecord {
  /** scrypt hash, never the password. */
  password: string;
  /** Home folder relative to the storage root, `/`-separated. */
  home: string;
  permissions: Permission[];
  /** Bytes this user's home may hold; absent means the server's default (FERRY_QUOTA). */
  quota?: number;
}

export interface User extends UserRecord {
  name: string;
}

interface UsersFileContent {
  version: 1;
  users: Record<string, UserRecord>;
}

export const ALL_PERMISSIONS: Permission[] = [...PERMISSIONS];
export const READ_ONLY_PERMISSIONS: Permission[] = ['list', 'read'];
const USER_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export function checkUserName(name: string): void {
  if (!USER_NAME.test(name)) {
    throw ferryError('USAGE', `"${name}" is not a valid user name: use 1 to 64 letters, digits, ".", "_" or "-"`);
  }
}

function parseUsersFile(text: string, path: string): UsersFileContent {
  const fail = (why: string): never => {
    throw ferryError('USAGE', `the users file ${path} is invalid: ${why}`);
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
      fail(`user "${name}" has no valid scrypt password hash (set one with: ferry-server user passwd ${name})`);
    }
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
    checked[name] = { password: record.password as string, home, permissions, ...(quota !== undefined ? { quota } : {}) };
  }
  return { version: 1, users: checked };
}

export class UserDirectory {
  private content: UsersFileContent = { version: 1, users: {} };
  private identity = '';

  constructor(readonly path: string) {}

  /** Loads the file; returns false when there is none. */
  async load(): Promise<boolean> {
    try {
      await this.refresh(true);
      return true;
    } catch (error) {
      if (systemErrorCode(error) === 'ENOENT') return false;
      throw error;
    }
  }

  /**
   * First start: with no users file, creates `admin` with the given password or a
   * random one, which is returned so the caller can show it once.
   */
  async ensureExists(adminPassword: string | undefined): Promise<{ created: boolean; generatedPassword?: string }> {
    if (await this.load()) return { created: false };
    const generatedPassword = adminPassword ? undefined : randomBytes(12).toString('base64url');
    await this.add('admin', (adminPassword || generatedPassword) as string, { home: '/', permissions: ALL_PERMISSIONS });
    return generatedPassword === undefined ? { created: true } : { created: true, generatedPassword };
  }

  /** Re-reads the file if it changed on disk. Keeps the last good version on a bad edit. */
  private async refresh(strict: boolean): Promise<void> {
    const stats = await stat(this.path);
    const identity = `${stats.ino}:${stats.size}:${stats.mtimeMs}`;
    if (identity === this.identity) return;
    try {
      this.content = parseUsersFile(await readFile(this.path, 'utf8'), this.path);
      this.identity = identity;
    } catch (error) {
      if (strict) throw error;
    }
  }

  /** The user if the password is right; null otherwise (same answer for an unknown user). */
  async authenticate(name: string, password: string): Promise<User | null> {
    await this.refresh(false).catch(() => undefined);
    const record = Object.hasOwn(this.content.users, name) ? this.content.users[name] : undefined;
    const ok = await verifyPassword(password, record?.password);
    return ok && record ? { name, ...record } : null;
  }

  list(): User[] {
    return Object.entries(this.content.users).map(([name, record]) => ({ name, ...record }));
  }

  async add(name: string, password: string, options: { home: string; permissions: Permission[]; quota?: number }): Promise<void> {
    checkUserName(name);
    parseRemotePath(options.home);
    await this.edit((users) => {
      if (Object.hasOwn(users, name)) throw ferryError('EXISTS', `user "${name}" already exists; use "user passwd" to change the password`);
      return hashPassword(password).then((hash) => {
        users[name] = { password: hash, home: options.home, permissions: options.permissions, ...(options.quota !== undefined ? { quota: options.quota } : {}) };
      });
    });
  }

  async remove(name: string): Promise<void> {
    await this.edit((users) => {
      if (!Object.hasOwn(users, name)) throw ferryError('NOT_FOUND', `there is no user "${name}"`);
      delete users[name];
    });
  }

  async setPassword(name: string, password: string): Promise<void> {
    await this.edit(async (users) => {
      const user = users[name];
      if (!Object.hasOwn(users, name) || user === undefined) throw ferryError('NOT_FOUND', `there is no user "${name}"`);
      users[name] = { ...user, password: await hashPassword(password) };
    });
  }

  private async edit(change: (users: Record<string, UserRecord>) => void | Promise<void>): Promise<void> {
    await this.load();
    const next: UsersFileContent = { version: 1, users: { ...this.content.users } };
    await change(next.users);
    await mkdir(dirname(this.path), { recursive: true });
    const temp = `${this.path}.${process.pid}.tmp`;
    await writeFile(temp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
    await rename(temp, this.path);
    this.content = next;
    this.identity = '';
  }
}
