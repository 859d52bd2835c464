/**
 * Server memory as the kernel sees it: VmRSS from /proc/<pid>/status of a process
 * and of its children (a cluster primary's workers), sampled while a workload runs.
 */

import { childrenOf, rssBytes } from './proc.js';

/** Memory is quoted in MB (10^6 bytes), the unit of the memory bars in bench/README.md. */
const MB = 1e6;

export interface MemoryPeak {
  /** Largest sum over the process and its children seen in one sample, in MB. */
  totalMB: number;
  /** Largest single process seen (the primary or any one worker), in MB. */
  largestProcessMB: number;
  samples: number;
}

/** Samples the RSS of `pid` and its children every `intervalMs` until stopped. */
export class MemorySampler {
  private total = 0;
  private largest = 0;
  private samples = 0;
  private children: number[] = [];
  private lastChildScan = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 50,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    // Listing /proc is the costly part: do it once a second, workers live long.
    if (Date.now() - this.lastChildScan > 1000) {
      this.children = childrenOf(this.pid);
      this.lastChildScan = Date.now();
    }
    const each = [this.pid, ...this.children].map(rssBytes);
    this.total = Math.max(this.total, each.reduce((sum, bytes) => sum + bytes, 0));
    this.largest = Math.max(this.largest, ...each);
    this.samples++;
  }

  stop(): MemoryPeak {
    clearInterval(this.timer);
    this.sample();
    return { totalMB: this.total / MB, largestProcessMB: this.largest / MB, samples: this.samples };
  }
}

export function mergePeaks(peaks: readonly MemoryPeak[]): MemoryPeak | undefined {
  if (peaks.length === 0) return undefined;
  return {
    totalMB: Math.max(...peaks.map((peak) => peak.totalMB)),
    largestProcessMB: Math.max(...peaks.map((peak) => peak.largestProcessMB)),
    samples: peaks.reduce((sum, peak) => sum + peak.samples, 0),
  };
}
