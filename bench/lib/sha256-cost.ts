/**
 * What SHA-256 costs on this machine, measured in the same run as the transfers:
 * node:crypto over an in-memory buffer, timed by the CPU the bench process spends
 * (not the wall clock, which a loaded machine stretches). The CPU bar allows Ferry
 * this cost on each end on top of rsync's CPU.
 */

import { createHash, randomFillSync } from 'node:crypto';

const GIB = 2 ** 30;

export interface Sha256Cost {
  /** GiB hashed per CPU second, on one core. */
  gibPerSecond: number;
  /** CPU seconds to hash one GiB. */
  secondsPerGib: number;
}

const CHUNK = 2 ** 20;

/**
 * Hashes a random buffer of `bytes` (a whole number of MiB) `rounds` times in 1 MiB
 * updates, as a transfer feeds its hash, and keeps the cheapest round. The buffer is
 * larger than the CPU caches, as a file's bytes are.
 */
export function measureSha256(bytes: number, rounds = 3): Sha256Cost {
  const data = randomFillSync(Buffer.allocUnsafe(bytes));
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < rounds; round++) {
    const before = process.cpuUsage();
    const hash = createHash('sha256');
    for (let offset = 0; offset < bytes; offset += CHUNK) hash.update(data.subarray(offset, offset + CHUNK));
    hash.digest();
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / 1e6);
  }
  const secondsPerGib = (best * GIB) / bytes;
  return { gibPerSecond: 1 / secondsPerGib, secondsPerGib };
}
