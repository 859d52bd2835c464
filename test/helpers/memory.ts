/**
 * How much memory a server process holds, read from /proc (Linux), for tests that
 * bound it.
 */

import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

interface ResidentMemory {
  /** Resident now (VmRSS). */
  rss: number;
  /** The kernel's high-water mark of the resident set so far (VmHWM). */
  highWater: number;
}

/** A process's resident memory in bytes. */
export async function residentMemory(pid: number): Promise<ResidentMemory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: field('VmRSS'), highWater: field('VmHWM') };
}

interface MemoryPeak {
  /** The largest VmRSS seen by a sample. */
  sampledBytes: number;
  /** The largest VmHWM seen, which also covers peaks between samples. */
  highWaterBytes: number;
  samples: number;
}

/** Samples a process's memory every `intervalMs` until stopped (once more then); a process that is gone adds nothing. */
export function sampleMemory(pid: number, intervalMs: number): { stop(): Promise<MemoryPeak> } {
  const peak: MemoryPeak = { sampledBytes: 0, highWaterBytes: 0, samples: 0 };
  let running = true;
  const sample = async (): Promise<void> => {
    const memory = await residentMemory(pid).catch(() => undefined);
    if (!memory) return;
    peak.sampledBytes = Math.max(peak.sampledBytes, memory.rss);
    peak.highWaterBytes = Math.max(peak.highWaterBytes, memory.highWater);
    peak.samples++;
  };
  const loop = (async () => {
    while (running) {
      await sample();
      await sleep(intervalMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await sample();
      return peak;
    },
  };
}
