/**
 * The upload ledger: how a storage backend asks the server's one quota book and
 * lock book (quota.ts, upload-locks.ts) for room and for the right to write a
 * resumable upload. In a single process the books are in the same process
 * (`LedgerBooks.as`); a cluster worker reaches the primary's books over IPC
 * (cluster/ledger-ipc.ts). Either way every call is asynchronous and one decision
 * covers the whole server.
 */

import { randomUUID } from 'node:crypto';
import { ferryError, type FerryError } from '../protocol/errors.js';
import { formatRemotePath } from '../protocol/paths.js';
import { QuotaBook, type HomeLimits, type ReservationRequest, type Usage } from './quota.js';
import type { RemotePath } from './storage.js';
import { UploadLocks } from './upload-locks.js';

/** How an upload ends in the books: stored, given up, or kept to be continued. */
export type UploadOutcome = 'commit' | 'release' | 'suspend';

/** An upload's reservation, asked for with the lock it wants when it is resumable (one round trip in a cluster). */
export interface BeginRequest extends Omit<ReservationRequest, 'resumable'> {
  lockKey?: string | undefined;
}

export interface UploadLedger {
  /**
   * Room for an upload, or QUOTA_EXCEEDED. With `lockKey`, the upload is resumable
   * only if that lock could be taken, and then its reservation's id is the lock key.
   */
  begin(request: BeginRequest): Promise<{ id: string; resumable: boolean }>;
  /** The upload ended: its reservation goes that way, and its lock (if it holds `lockKey`) is given up. */
  end(id: string, outcome: UploadOutcome, lockKey?: string): Promise<void>;
  /** Entries made at once (mkdir), or QUOTA_EXCEEDED. */
  add(request: Omit<ReservationRequest, 'resumable' | 'replaced'>): Promise<void>;
  /** Something at `location` was deleted or moved. */
  changed(location: string): Promise<void>;
  lock(key: string): Promise<boolean>;
  unlock(key: string): Promise<void>;
  locked(key: string): Promise<boolean>;
}

/** The books themselves, shared by every owner (process) of one server. */
export class LedgerBooks {
  readonly quota: QuotaBook;
  readonly locks = new UploadLocks();
  /** Owners that went away: a reservation of theirs that was still being decided is undone once it is made. */
  private readonly gone = new Set<string>();

  constructor(measure: (root: string) => Promise<Usage>, rescanMs?: number) {
    this.quota = new QuotaBook(measure, rescanMs);
  }

  /** The ledger as seen by `owner` (a process of the server). */
  as(owner: string): UploadLedger {
    const { quota, locks } = this;
    return {
      begin: async ({ lockKey, ...request }) => {
        const resumable = lockKey !== undefined && locks.acquire(lockKey, owner);
        const id = resumable ? lockKey : request.id;
        try {
          await quota.reserve({ ...request, id, resumable }, owner);
        } catch (error) {
          if (resumable) locks.release(lockKey, owner);
          throw error;
        }
        if (this.gone.has(owner)) this.ownerGone(owner);
        return { id, resumable };
      },
      end: async (id, outcome, lockKey) => {
        quota[outcome](id);
        if (lockKey !== undefined) locks.release(lockKey, owner);
      },
      add: async (request) => quota.add(request, owner),
      changed: async (location) => quota.changed(location),
      lock: async (key) => locks.acquire(key, owner),
      unlock: async (key) => locks.release(key, owner),
      locked: async (key) => locks.held(key),
    };
  }

  /** A process went away: its locks go, its reservations are suspended or released. */
  ownerGone(owner: string): void {
    this.gone.add(owner);
    this.locks.ownerGone(owner);
    this.quota.ownerGone(owner);
  }
}

/** An upload as the ledger books it. */
export interface UploadBooking {
  /** The home: where its usage is booked, and what it may hold. */
  root: string;
  limits: HomeLimits;
  path: RemotePath;
  size: number;
  /** Where the file lands; the size of the file it replaces; the entries (file, folders) it adds. */
  location: string;
  replaced: number;
  entries: number;
}

/**
 * What one upload holds in the ledger: its reservation and, when resumable, the
 * lock on its partial. It ends exactly once (later calls do nothing), so a backend
 * may call abort after a failed commit, or suspend after an abort.
 */
export class UploadHold {
  private ended = false;

  private constructor(
    private readonly ledger: UploadLedger,
    readonly id: string,
    private readonly lockKey: string | undefined,
  ) {}

  /**
   * Reserves room for an upload of `path` (`size` bytes, landing at `location` in the
   * home at `root`); with `lockKey`, the upload is resumable only if that lock could be
   * taken (`resumable` tells), and then its id is the lock key.
   */
  static async take(ledger: UploadLedger, upload: UploadBooking, lockKey?: string): Promise<{ hold: UploadHold; resumable: boolean }> {
    const { root, limits, path, size, location, replaced, entries } = upload;
    const request = { id: randomUUID(), lockKey, root, location, bytes: size, replaced, entries, limits, what: formatRemotePath(path) };
    const { id, resumable } = await ledger.begin(request);
    return { hold: new UploadHold(ledger, id, resumable ? lockKey : undefined), resumable };
  }

  private async end(outcome: UploadOutcome): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.ledger.end(this.id, outcome, this.lockKey);
  }

  /** The file is in place. */
  commit(): Promise<void> {
    return this.end('commit');
  }

  /** The upload failed or was refused; nothing of it stays. */
  abort(): Promise<void> {
    return this.end('release').catch(() => undefined);
  }

  /** The data is kept for a later continuation, which takes the reservation over. */
  suspend(): Promise<void> {
    return this.end('suspend').catch(() => undefined);
  }
}

/**
 * Books folders made at once (mkdir): the `entries` new ones at `location` count
 * against the home's entry limit before they are made, or QUOTA_EXCEEDED.
 */
export function bookFolders(ledger: UploadLedger, folders: Omit<UploadBooking, 'size' | 'replaced'>): Promise<void> {
  const { root, limits, path, location, entries } = folders;
  return ledger.add({ id: randomUUID(), root, location, bytes: 0, entries, limits, what: formatRemotePath(path) });
}

/** Refuses a continuation that another upload is writing. */
export function busyUpload(what: string): FerryError {
  return ferryError('BUSY', `another upload of ${what} is in progress; try again when it ends`);
}
