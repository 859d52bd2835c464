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

export interface UploadLedger {
  /** Room for an upload, or QUOTA_EXCEEDED. */
  reserve(request: ReservationRequest): Promise<void>;
  /** Entries made at once (mkdir), or QUOTA_EXCEEDED. */
  add(request: Omit<ReservationRequest, 'resumable' | 'replaced'>): Promise<void>;
  commit(id: string): Promise<void>;
  release(id: string): Promise<void>;
  suspend(id: string): Promise<void>;
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
      reserve: async (request) => {
        await quota.reserve(request, owner);
        if (this.gone.has(owner)) quota.ownerGone(owner);
      },
      add: async (request) => quota.add(request, owner),
      commit: async (id) => quota.commit(id),
      release: async (id) => quota.release(id),
      suspend: async (id) => quota.suspend(id),
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
    const locked = lockKey !== undefined && (await ledger.lock(lockKey));
    const id = locked ? lockKey : randomUUID();
    const { root, limits, path, size, location, replaced, entries } = upload;
    try {
      await ledger.reserve({ id, root, location, bytes: size, replaced, entries, limits, resumable: locked, what: formatRemotePath(path) });
    } catch (error) {
      if (locked) await ledger.unlock(lockKey);
      throw error;
    }
    return { hold: new UploadHold(ledger, id, locked ? lockKey : undefined), resumable: locked };
  }

  private async end(step: (id: string) => Promise<void>): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    try {
      await step(this.id);
    } finally {
      if (this.lockKey !== undefined) await this.ledger.unlock(this.lockKey);
    }
  }

  /** The file is in place. */
  commit(): Promise<void> {
    return this.end((id) => this.ledger.commit(id));
  }

  /** The upload failed or was refused; nothing of it stays. */
  abort(): Promise<void> {
    return this.end((id) => this.ledger.release(id)).catch(() => undefined);
  }

  /** The data is kept for a later continuation, which takes the reservation over. */
  suspend(): Promise<void> {
    return this.end((id) => this.ledger.suspend(id)).catch(() => undefined);
  }
}

/** Refuses a continuation that another upload is writing. */
export function busyUpload(what: string): FerryError {
  return ferryError('BUSY', `another upload of ${what} is in progress; try again when it ends`);
}
