/**
 * Interrupted uploads kept on local disk so that the same user sending the same
 * name and size again continues where the data stopped. Each partial lives in
 * `<dataDir>/partial/<key>.part` (outside every user's tree), keyed by user, home,
 * path and size. Who is writing a partial is known only to the server's upload
 * ledger (its lock book lives in memory), so any worker of the cluster can pick up
 * a partial whose writer is gone, and nothing left on disk by a killed server can
 * make its partials look busy to the next one.
 */

import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { UploadStatus } from './storage.js';
import type { UploadLedger } from './ledger.js';

const EMPTY_SHA256 = createHash('sha256').digest('hex');

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
    if (await this.ledger.locked(key)) return { offset: 0, prefixSha256: EMPTY_SHA256, held: true };
    const size = await stat(this.dataPath(key)).then(
      (stats) => stats.size,
      () => 0,
    );
    if (size === 0) return { offset: 0, prefixSha256: EMPTY_SHA256 };
    return { offset: size, prefixSha256: (await this.prefixHash(key, size)).digest('hex') };
  }

  /** Removes partials untouched for longer than `maxAgeMs` that no upload is writing, with their reservations. */
  async sweep(maxAgeMs: number): Promise<number> {
    let removed = 0;
    const now = Date.now();
    for (const name of await readdir(this.dir).catch(() => [])) {
      if (!name.endsWith('.part')) continue;
      const key = name.slice(0, -'.part'.length);
      const stats = await stat(join(this.dir, name)).catch(() => undefined);
      if (!stats || now - stats.mtimeMs < maxAgeMs) continue;
      // Held while it goes, so that no upload starts to continue it meanwhile.
      if (!(await this.ledger.lock(key))) continue;
      try {
        await unlink(join(this.dir, name)).catch(() => undefined);
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
