/**
 * Interrupted uploads kept on local disk so that the same user sending the same
 * name and size again continues where the data stopped. Each partial lives in
 * `<dataDir>/partial/<key>.part` (outside every user's tree), keyed by user, home,
 * path and size, with `<key>.lock` naming the process that is writing it; any
 * worker of the cluster can pick up a partial whose writer is gone.
 */

import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { systemErrorCode } from '../protocol/errors.js';
import type { ResumeStatus } from '../protocol/messages.js';

const EMPTY_SHA256 = createHash('sha256').digest('hex');

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return systemErrorCode(error) === 'EPERM';
  }
}

export class PartialUploads {
  constructor(readonly dir: string) {}

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  key(user: string, home: string, path: string, size: number): string {
    return createHash('sha256').update(`${user}\0${home}\0${path}\0${size}`).digest('hex');
  }

  dataPath(key: string): string {
    return join(this.dir, `${key}.part`);
  }

  private lockPath(key: string): string {
    return join(this.dir, `${key}.lock`);
  }

  /** The pid holding a partial's lock, if that process still runs. */
  private async holder(key: string): Promise<number | undefined> {
    const pid = Number(await readFile(this.lockPath(key), 'utf8').catch(() => ''));
    return Number.isSafeInteger(pid) && pid > 0 && processAlive(pid) ? pid : undefined;
  }

  /**
   * Takes a partial for one upload. False when a live process is writing it (the
   * caller then uploads without resume); a lock left by a dead process is taken over.
   */
  async acquire(key: string): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await open(this.lockPath(key), 'wx');
        await handle.writeFile(String(process.pid));
        await handle.close();
        return true;
      } catch (error) {
        if (systemErrorCode(error) !== 'EEXIST') throw error;
        if ((await this.holder(key)) !== undefined) return false;
        await unlink(this.lockPath(key)).catch(() => undefined);
      }
    }
    return false;
  }

  async release(key: string): Promise<void> {
    await unlink(this.lockPath(key)).catch(() => undefined);
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
  async status(key: string): Promise<ResumeStatus> {
    if ((await this.holder(key)) !== undefined) return { offset: 0, prefixSha256: EMPTY_SHA256 };
    const size = await stat(this.dataPath(key)).then(
      (stats) => stats.size,
      () => 0,
    );
    if (size === 0) return { offset: 0, prefixSha256: EMPTY_SHA256 };
    return { offset: size, prefixSha256: (await this.prefixHash(key, size)).digest('hex') };
  }

  /** Removes partials (and their stale locks) untouched for longer than `maxAgeMs`. */
  async sweep(maxAgeMs: number): Promise<number> {
    let removed = 0;
    const now = Date.now();
    for (const name of await readdir(this.dir).catch(() => [])) {
      if (!name.endsWith('.part')) continue;
      const key = name.slice(0, -'.part'.length);
      const stats = await stat(join(this.dir, name)).catch(() => undefined);
      if (!stats || now - stats.mtimeMs < maxAgeMs || (await this.holder(key)) !== undefined) continue;
      await unlink(join(this.dir, name)).catch(() => undefined);
      await this.release(key);
      removed++;
    }
    return removed;
  }
}
