/**
 * The login both doors share, the TCP file service and the web client: counted in
 * the login book before the slow password check (so parallel guesses cannot outrun
 * the limit), reported to the metrics and the refusal log, and every refusal,
 * banned or wrong password, answered only after the failure delay, which slows
 * down anyone guessing. Also what ends a session (its user removed or their
 * password changed) and the view of the store a user gets.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { describeBan, type LoginGuard } from '../auth/bans.js';
import { holdsCredential, type User, type UserDirectory } from '../auth/users.js';
import type { RefusalLog } from '../log/refusal-log.js';
import { ferryError, type FerryError } from '../protocol/errors.js';
import { parseRemotePath } from '../protocol/paths.js';
import type { HomeStorage, Storage } from '../storage/index.js';
import type { SessionObserver } from './session.js';

export interface LoginBooks {
  guard: LoginGuard;
  users: UserDirectory;
  observer: SessionObserver;
  /** Where refused logins are tallied for the log; without it they are not logged. */
  refusals?: RefusalLog | undefined;
  failureDelayMs: number;
}

/** The user `name` if `password` is theirs; else the refusal, given after the failure delay. */
export async function authenticate(books: LoginBooks, source: string, name: string, password: string): Promise<{ user: User } | { refused: FerryError }> {
  const verdict = await books.guard.attempt(source, name);
  if (!verdict.allowed) {
    books.observer.auth('banned');
    books.refusals?.note(source, 'banned', name);
    await sleep(books.failureDelayMs);
    return { refused: ferryError('BANNED', describeBan(verdict.ban)) };
  }
  let user: User | null;
  try {
    user = await books.users.authenticate(name, password);
  } catch (error) {
    books.guard.failed(verdict.ticket); // Settled either way, so later attempts never wait on it.
    throw error;
  }
  books.observer.auth(user ? 'success' : 'failure');
  if (!user) {
    books.guard.failed(verdict.ticket);
    books.refusals?.note(source, 'failure', name);
    await sleep(books.failureDelayMs);
    return { refused: ferryError('AUTH_FAILED', 'wrong user name or password') };
  }
  books.guard.succeeded(verdict.ticket);
  return { user };
}

/** Why a session of `name`, logged in with `credential`, has ended, if it has. */
export function revocation(users: UserDirectory, name: string, credential: string): FerryError | undefined {
  const now = users.current(name);
  if (!now) return ferryError('SESSION_REVOKED', `the account ${name} was removed; this session has ended`);
  if (!holdsCredential(now, credential)) return ferryError('SESSION_REVOKED', `the password of ${name} was changed; log in again with the new one`);
  return undefined;
}

/** The user's view of the store, bounded by their quota (or the server's default) and the entry limit. */
export function openHome(storage: Storage, user: User, limits: { defaultQuota: number; maxEntries: number }): Promise<HomeStorage> {
  return storage.forHome(parseRemotePath(user.home), user.name, { bytes: user.quota ?? limits.defaultQuota, entries: limits.maxEntries });
}
