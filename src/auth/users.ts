/**
 * The users file: each user's password hash, home folder, permissions and quota.
 *
 * The server re-reads the file whenever its identity (inode, size, mtime) changes:
 * checked on every login, on a change the folder's watcher reports, and every few
 * seconds as a backstop (a watcher can miss an atomic replace), so edits apply
 * without a restart and `watch` listeners (the live sessions) hear of them at once.
 * A file that fails to parse keeps the last good version in force. Writes go to a
 * temporary file renamed over the original.
 */

import { createHash, randomBytes } from 'node:crypto';
import { watch as watchFolder, type FSWatcher } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { ConcurrencyLimit } from '../io/concurrency-limit.js';
import { ferryError, systemErrorCode } from '../protocol/errors.js';
import { PERMISSIONS, type Permission } from '../protocol/messages.js';
import { parseRemotePath } from '../protocol/paths.js';
import { hashPassword, isPasswordHash, needsRehash, verifyPassword } from './password.js';

/** How often the file is checked for changes a watcher may have missed. */
const POLL_MS = 2_000;

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

interface UsersFileContent {
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

function parseUsersFile(text: string, path: string): UsersFileContent {
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

export interface UserDirectoryOptions {
  /** Bounds how many password checks and hashes run at once (default: no bound). */
  passwordChecks?: ConcurrencyLimit;
  /** Replace hashes weaker than today's at login (default true). */
  rehash?: boolean;
  /** Hears of a hash upgrade that could not be written (the login still succeeds). */
  upgradeFailed?: (user: string, error: unknown) => void;
}

export class UserDirectory {
  private content: UsersFileContent = { version: 1, users: {} };
  private identity = '';
  private readonly checks: ConcurrencyLimit;
  private readonly listeners = new Set<() => void>();
  private stopWatching: (() => void) | undefined;

  constructor(
    readonly path: string,
    private readonly options: UserDirectoryOptions = {},
  ) {
    this.checks = options.passwordChecks ?? new ConcurrencyLimit(Number.POSITIVE_INFINITY);
  }

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
    const generatedPassword = adminPassword ? undefined : randomBytes(18).toString('base64url');
    await this.add('admin', (adminPassword || generatedPassword) as string, { home: '/', permissions: ALL_PERMISSIONS });
    return generatedPassword === undefined ? { created: true } : { created: true, generatedPassword };
  }

  /**
   * Re-reads the file if it changed on disk; true when the users changed. Keeps the
   * last good version on a bad edit.
   */
  private async refresh(strict: boolean): Promise<boolean> {
    const stats = await stat(this.path);
    const identity = `${stats.ino}:${stats.size}:${stats.mtimeMs}`;
    if (identity === this.identity) return false;
    try {
      this.content = parseUsersFile(await readFile(this.path, 'utf8'), this.path);
      this.identity = identity;
      return true;
    } catch (error) {
      if (strict) throw error;
      return false;
    }
  }

  /**
   * The user if the password is right; null otherwise (same answer for an unknown
   * user). A hash weaker than today's is replaced, now that the password is known.
   */
  async authenticate(name: string, password: string): Promise<User | null> {
    await this.refresh(false).catch(() => undefined);
    const record = this.record(name);
    const ok = await this.checks.run(() => verifyPassword(password, record?.password));
    if (!ok || !record) return null;
    if (this.options.rehash !== false && needsRehash(record.password)) {
      await this.upgrade(name, record, password).catch((error: unknown) => this.options.upgradeFailed?.(name, error));
    }
    return this.current(name) ?? { name, ...record };
  }

  private record(name: string): UserRecord | undefined {
    return Object.hasOwn(this.content.users, name) ? this.content.users[name] : undefined;
  }

  /** The user as the file says now, or undefined once removed. */
  current(name: string): User | undefined {
    const record = this.record(name);
    return record ? { name, ...record } : undefined;
  }

  /** Rewrites one user's hash at today's strength, unless the record changed meanwhile. */
  private async upgrade(name: string, record: UserRecord, password: string): Promise<void> {
    const hash = await this.checks.run(() => hashPassword(password));
    await this.edit((users) => {
      const now = users[name];
      if (!Object.hasOwn(users, name) || now === undefined || now.password !== record.password) return;
      users[name] = { ...now, password: hash, upgradedFrom: credentialOf(now) };
    });
  }

  /**
   * Calls `listener` whenever the users may have changed (an edit here, or the file
   * replaced on disk by `ferry-server user ...` or by hand). Returns a function that
   * stops listening; the file is watched while anyone listens.
   */
  watch(listener: () => void): () => void {
    this.listeners.add(listener);
    this.stopWatching ??= this.startWatching();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) {
        this.stopWatching?.();
        this.stopWatching = undefined;
      }
    };
  }

  private startWatching(): () => void {
    let checking = false;
    const check = (): void => {
      if (checking) return;
      checking = true;
      this.refresh(false)
        .then((changed) => {
          if (changed) this.notify();
        })
        .catch(() => undefined)
        .finally(() => {
          checking = false;
        });
    };
    let watcher: FSWatcher | undefined;
    try {
      // The folder, not the file: an atomic replace gives the file a new inode.
      watcher = watchFolder(dirname(this.path), (_event, file) => {
        if (file === null || file === basename(this.path)) check();
      });
      watcher.on('error', () => undefined);
    } catch {
      watcher = undefined; // The poll below still notices changes.
    }
    const timer = setInterval(check, POLL_MS);
    timer.unref();
    return () => {
      clearInterval(timer);
      watcher?.close();
    };
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
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
      const { upgradedFrom: _rehash, ...rest } = user;
      users[name] = { ...rest, password: await hashPassword(password) };
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
    this.notify();
  }
}
