/**
 * Who is writing each resumable upload, for the whole server. The book lives in
 * memory in one process (the cluster primary, or the single process), never in a
 * file: a lock cannot outlive the server that took it, so no process ID (PID 1 in
 * every container start) or leftover file can make a dead writer look alive. When
 * a worker exits, the primary drops the locks it held at once.
 */

export class UploadLocks {
  private readonly holders = new Map<string, string>();

  /** Takes `key` for `owner`; false while it is held (by anyone: one process serves many uploads). */
  acquire(key: string, owner: string): boolean {
    if (this.holders.has(key)) return false;
    this.holders.set(key, owner);
    return true;
  }

  release(key: string, owner: string): void {
    if (this.holders.get(key) === owner) this.holders.delete(key);
  }

  held(key: string): boolean {
    return this.holders.has(key);
  }

  ownerGone(owner: string): void {
    for (const [key, holder] of this.holders) if (holder === owner) this.holders.delete(key);
  }
}
