/**
 * The quota book: what each home holds (bytes, and entries: files plus folders)
 * and what uploads in flight have reserved there, for the whole server. There is
 * exactly one book per server (the cluster primary's, or the single process's), so
 * decisions made on different workers see each other's reservations.
 *
 * A home is known by its root location (a backend's real folder or key prefix,
 * always ending in its separator, so that a location lies in a home exactly when it
 * starts with the root); a file counts toward every home it lies in, so nested
 * homes both see it. Usage is
 * measured by walking the home (`measure`) the first time it is needed, after a
 * delete or rename marks it changed, and again once the last measure is older than
 * `rescanMs`, which is how changes made on disk by other means are picked up. In
 * between it moves by what uploads commit. Every figure errs on the side of too
 * much: a commit that lands while a measure runs is added on top of it, and an
 * upload is charged its declared size from its start to its end, temp data or
 * resumable partial included (a suspended upload keeps its reservation until it is
 * continued or swept).
 */

import { ferryError } from '../protocol/errors.js';

export interface Usage {
  bytes: number;
  entries: number;
}

/** What a home may hold; 0 means no limit. */
export interface HomeLimits {
  bytes: number;
  entries: number;
}

export const NO_LIMITS: HomeLimits = { bytes: 0, entries: 0 };

/** Re-measure homes at least this often unless configured otherwise. */
const DEFAULT_RESCAN_MS = 60_000;

export interface ReservationRequest {
  /** Unique per upload; a resumable upload uses its partial's key, so a continuation takes its reservation over. */
  id: string;
  /** The home whose limits apply. */
  root: string;
  /** Where the file will land (a location inside `root`). */
  location: string;
  /** The declared size of the whole file. */
  bytes: number;
  /** Size of the file it replaces (0 if none). */
  replaced: number;
  /** Entries it adds: the file if new, and the folders made for it. */
  entries: number;
  limits: HomeLimits;
  /** Kept (suspended) rather than dropped when its owner goes away. */
  resumable: boolean;
  /** The path as the user wrote it, for messages. */
  what: string;
}

interface Reservation extends ReservationRequest {
  /** Who is writing it; undefined while suspended. */
  owner: string | undefined;
}

interface HomeState {
  usage: Usage | undefined;
  measuredAt: number;
  changed: boolean;
  measuring: Promise<void> | undefined;
  /** Commits made while a measure runs: added on top of its result. */
  landedDuringMeasure: Usage[] | undefined;
}

export class QuotaBook {
  private readonly homes = new Map<string, HomeState>();
  private readonly reservations = new Map<string, Reservation>();

  constructor(
    private readonly measure: (root: string) => Promise<Usage>,
    private readonly rescanMs: number = DEFAULT_RESCAN_MS,
    private readonly now: () => number = Date.now,
  ) {}

  private home(root: string): HomeState {
    let state = this.homes.get(root);
    if (!state) {
      state = { usage: undefined, measuredAt: 0, changed: true, measuring: undefined, landedDuringMeasure: undefined };
      this.homes.set(root, state);
    }
    return state;
  }

  /** The home's usage, measured again first when it is unknown, changed or older than the rescan interval. */
  async usage(root: string): Promise<Usage> {
    const state = this.home(root);
    // One measure at most per call: one that is already running is joined, even if it began before a change.
    if (state.usage === undefined || state.changed || this.now() - state.measuredAt >= this.rescanMs) {
      state.measuring ??= this.remeasure(root, state);
      await state.measuring;
    }
    if (state.usage === undefined) return this.usage(root);
    return state.usage;
  }

  private async remeasure(root: string, state: HomeState): Promise<void> {
    state.changed = false;
    state.landedDuringMeasure = [];
    const startedAt = this.now();
    try {
      const measured = await this.measure(root);
      const landed = state.landedDuringMeasure;
      state.usage = {
        bytes: measured.bytes + landed.reduce((sum, usage) => sum + usage.bytes, 0),
        entries: measured.entries + landed.reduce((sum, usage) => sum + usage.entries, 0),
      };
      state.measuredAt = startedAt;
    } catch (error) {
      state.changed = true;
      throw error;
    } finally {
      state.landedDuringMeasure = undefined;
      state.measuring = undefined;
    }
  }

  /** Bytes and entries reserved inside `root` by uploads other than `except`, and whether one of them targets `location`. */
  private reservedIn(root: string, except: string, location: string): Usage & { sameTarget: boolean } {
    let bytes = 0;
    let entries = 0;
    let sameTarget = false;
    for (const reservation of this.reservations.values()) {
      if (reservation.id === except || !reservation.location.startsWith(root)) continue;
      bytes += reservation.bytes;
      entries += reservation.entries;
      if (reservation.location === location) sameTarget = true;
    }
    return { bytes, entries, sameTarget };
  }

  /**
   * Reserves room for an upload, or throws QUOTA_EXCEEDED. A reservation with the
   * same id (a suspended resumable upload) is taken over rather than counted twice.
   */
  async reserve(request: ReservationRequest, owner: string): Promise<void> {
    const { limits } = request;
    if (limits.bytes > 0 || limits.entries > 0) {
      const state = this.home(request.root);
      const answered = await this.usage(request.root);
      // Usage is read only now, in the same step as the reservations: a commit that landed
      // while this call awaited moved its bytes from one to the other, and a figure of usage
      // taken before it would miss them in both. Nothing awaits from here on: the check and
      // the booking are one step.
      const used = state.usage ?? answered;
      const reserved = this.reservedIn(request.root, request.id, request.location);
      // A replaced file's bytes are freed once, whatever number of uploads target it.
      const freed = reserved.sameTarget ? 0 : request.replaced;
      if (limits.bytes > 0 && request.bytes > 0 && used.bytes + reserved.bytes - freed + request.bytes > limits.bytes) {
        const inFlight = reserved.bytes > 0 ? `, ${reserved.bytes} more held by uploads in progress` : '';
        throw ferryError(
          'QUOTA_EXCEEDED',
          `${request.what} (${request.bytes} bytes) does not fit in your quota of ${limits.bytes} bytes (${used.bytes} in use${inFlight}); delete something first, or ask the server's admin for more`,
        );
      }
      if (limits.entries > 0 && request.entries > 0 && used.entries + reserved.entries + request.entries > limits.entries) {
        throw ferryError(
          'QUOTA_EXCEEDED',
          `${request.what} would take your home past its limit of ${limits.entries} files and folders (${used.entries} in use); delete something first, or ask the server's admin for more`,
        );
      }
    }
    this.reservations.set(request.id, { ...request, owner });
  }

  /** Entries made at once (mkdir): checked against the limit and counted, or QUOTA_EXCEEDED. */
  async add(request: Omit<ReservationRequest, 'resumable' | 'replaced'>, owner: string): Promise<void> {
    await this.reserve({ ...request, replaced: 0, resumable: false }, owner);
    this.commit(request.id);
  }

  /** The upload is in place: its reservation becomes usage of every home it lies in. */
  commit(id: string): void {
    const reservation = this.reservations.get(id);
    if (!reservation) return;
    this.reservations.delete(id);
    const delta = { bytes: reservation.bytes - reservation.replaced, entries: reservation.entries };
    for (const [root, state] of this.homes) {
      if (!reservation.location.startsWith(root)) continue;
      if (state.usage) state.usage = { bytes: state.usage.bytes + delta.bytes, entries: state.usage.entries + delta.entries };
      state.landedDuringMeasure?.push(delta);
    }
  }

  /** The upload ended without a file: its room is free again. */
  release(id: string): void {
    this.reservations.delete(id);
  }

  /** The upload stopped with its data kept for later: it keeps its room, owned by nobody. */
  suspend(id: string): void {
    const reservation = this.reservations.get(id);
    if (reservation) reservation.owner = undefined;
  }

  /** Something at `location` was deleted or moved: every home it touches is measured again before its next decision. */
  changed(location: string): void {
    for (const [root, state] of this.homes) {
      // A home inside a removed folder is measured again too (a false match only costs a measure).
      if (location.startsWith(root) || root.startsWith(location)) state.changed = true;
    }
  }

  /** A process went away: its resumable uploads are suspended, the others released. */
  ownerGone(owner: string): void {
    for (const [id, reservation] of this.reservations) {
      if (reservation.owner !== owner) continue;
      if (reservation.resumable) reservation.owner = undefined;
      else this.reservations.delete(id);
    }
  }

  /** Reserved bytes in `root` (for tests and diagnostics). */
  reservedBytes(root: string): number {
    return this.reservedIn(root, '', '').bytes;
  }
}
