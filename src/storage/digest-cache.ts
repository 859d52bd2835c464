/**
 * Digests already computed, so that `stat` does not read a file again. Each
 * backend says what identifies one version of a file's bytes (local disk: device,
 * inode, size and time; an object store: key and ETag); a new version is a new
 * entry, and the oldest entries go first once the cache is full.
 */

const DIGEST_CACHE_ENTRIES = 10_000;

export class DigestCache<Version> {
  private readonly digests = new Map<string, string>();

  /** `identify` spells a version as a string that no other version shares. */
  constructor(private readonly identify: (version: Version) => string) {}

  get(version: Version): string | undefined {
    return this.digests.get(this.identify(version));
  }

  set(version: Version, digest: string): void {
    if (this.digests.size >= DIGEST_CACHE_ENTRIES) {
      const oldest = this.digests.keys().next().value;
      if (oldest !== undefined) this.digests.delete(oldest);
    }
    this.digests.set(this.identify(version), digest);
  }
}
