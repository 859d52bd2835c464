/**
 * Interrupted uploads kept on local disk so that the same user sending the same
 * name and size again continues where the data stopped. Each partial lives in
 * `<dataDir>/partial/<key>.part` (outside every user's tree), keyed by user, home,
 * path and size. Who is writing a partial is known only to the server's upload
 * ledger (its lock book lives in memory), so any worker of the cluster can pick up
 * a partial whose writer is gone, and nothing left on disk by a killed server can
 * make its partials look busy to the next one.
 *
 * While an upload runs its partial is made durable every few megabytes (a
 * checkpoint), and `<key>.held` records how many bytes the last one covered, with
 * the id of the boot it happened in. After a process is killed the page cache still
 * holds everything written, so the whole partial is offered; after the machine
 * itself went down only the checkpointed bytes are sure to be what was written, so
 * only those are offered and the rest is sent again.
 */

import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { uptime } from 'node:os';
import { join } from 'node:path';
import type { UploadStatus } from '../storage.js';
import type { UploadLedger } from '../ledger.js';

const EMPTY_SHA256 = createHash('sha256').digest('hex');

/** What a checkpoint leaves on disk: the bytes made durable, and in which boot. */
export interface CheckpointRecord {
  length: number;
  boot: string;
}

let thisBoot: Promise<string> | undefined;

/** Identifies the running boot of the machine: the page cache of another boot is gone. */
export function bootId(): Promise<string> {
  thisBoot ??= readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (id) => id.trim(),
    // Elsewhere the time the machine started, to the minute, tells boots apart.
    () => `up-${Math.round((Date.now() / 1000 - uptime()) / 60)}`,
  );
  return thisBoot;
}

export class PartialUploads {
  constructor(
    readonly dir: string,
    private readonly ledger: UploadLedger,
  ) {}

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  key(user: string, home: string, path: string, size: number): string {
    return createHash('sha256').update(`${user}\0${home}\0${path}\0${size}`).digest('hex');
  }

  dataPath(key: string): string {
    return join(this.dir, `${key}.part`);
  }

  recordPath(key: string): string {
    return join(this.dir, `${key}.held`);
  }

  /** Records that the first `length` bytes of the partial for `key` are durable. */
  async checkpoint(key: string, length: number): Promise<void> {
    const record: CheckpointRecord = { length, boot: await bootId() };
    // Replaced in one step: a process killed while it writes leaves the old record or the new, never a torn one.
    // One writer per partial at a time (it is locked), so one name for the new record is enough.
    const next = `${this.recordPath(key)}.new`;
    await writeFile(next, JSON.stringify(record));
    await rename(next, this.recordPath(key));
  }

  async record(key: string): Promise<CheckpointRecord | undefined> {
    const text = await readFile(this.recordPath(key), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      const parsed = JSON.parse(text) as Partial<CheckpointRecord>;
      if (typeof parsed.length === 'number' && typeof parsed.boot === 'string') return { length: parsed.length, boot: parsed.boot };
    } catch {
      // Torn by a crash while it was rewritten: nothing is known to be durable.
    }
    return { length: 0, boot: '' };
  }

  async forget(key: string): Promise<void> {
    await unlink(this.recordPath(key)).catch(() => undefined);
    // Left by a process killed while it replaced the record.
    await unlink(`${this.recordPath(key)}.new`).catch(() => undefined);
  }

  /**
   * How many bytes of a partial of `size` bytes can be continued: all of them within
   * the boot that wrote them, only the checkpointed ones after a restart of the machine.
   */
  async usable(key: string, size: number): Promise<number> {
    const record = await this.record(key);
    if (record === undefined || record.boot === (await bootId())) return size;
    return Math.min(size, record.length);
  }

  /** SHA-256 of the first `length` bytes of a partial, as a hash that can be continued. */
  async prefixHash(key: string, length: number): Promise<Hash> {
    const hash = createHash('sha256');
    if (length === 0) return hash;
    const handle = await open(this.dataPath(key), 'r');
    try {
      const stream = handle.createReadStream({ start: 0, end: length - 1, autoClose: false, highWaterMark: 1024 * 1024 });
      for await (const chunk of stream) hash.update(chunk as Buffer);
    } finally {
      await handle.close();
    }
    return hash;
  }

  /** What is held for `key`: nothing while another upload writes it. */
  async status(key: string): Promise<UploadStatus> {
    if (await this.ledger.locked(key)) return { offset: 0, prefixSha256: EMPTY_SHA256, busy: true };
    const size = await stat(this.dataPath(key)).then(
      (stats) => stats.size,
      () => 0,
    );
    const offset = await this.usable(key, size);
    if (offset === 0) return { offset: 0, prefixSha256: EMPTY_SHA256 };
    return { offset, prefixSha256: (await this.prefixHash(key, offset)).digest('hex') };
  }

  /** Removes partials untouched for longer than `maxAgeMs` that no upload is writing, with their reservations. */
  async sweep(maxAgeMs: number): Promise<number> {
    let removed = 0;
    const now = Date.now();
    const names = await readdir(this.dir).catch(() => []);
    const present = new Set(names);
    for (const name of names) {
      // A record outlives its partial only when a process died between a commit and its removal.
      const recordOf = /^(.*)\.held(\.new)?$/.exec(name)?.[1];
      if (recordOf !== undefined && !present.has(`${recordOf}.part`)) await unlink(join(this.dir, name)).catch(() => undefined);
      if (!name.endsWith('.part')) continue;
      const key = name.slice(0, -'.part'.length);
      const stats = await stat(join(this.dir, name)).catch(() => undefined);
      if (!stats || now - stats.mtimeMs < maxAgeMs) continue;
      // Held while it goes, so that no upload starts to continue it meanwhile.
      if (!(await this.ledger.lock(key))) continue;
      try {
        await unlink(join(this.dir, name)).catch(() => undefined);
        await this.forget(key);
        removed++;
      } finally {
        await this.ledger.end(key, 'release', key);
      }
    }
    return removed;
  }

  /** Removes lock files that servers before the in-memory lock book left next to partials. */
  async recover(): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.dir).catch(() => [])) {
      if (name.endsWith('.lock') && (await unlink(join(this.dir, name)).then(() => true, () => false))) removed++;
    }
    return removed;
  }
}
