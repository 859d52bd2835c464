/**
 * Progress bars on a terminal: one per file in flight plus a total, with bytes,
 * rate and ETA. Drawn on stderr so stdout carries only results.
 */

import type { FileJob, FileOutcome, TransferReporter } from '../client/transfer-plan.js';
import { formatBytes, formatRate } from './format.js';

const FORMAT = '{name} |{bar}| {percentage}% {done}/{size} {rate} ETA {eta_formatted}';
const NAME_WIDTH = 28;

function fit(name: string): string {
  return name.length > NAME_WIDTH ? `…${name.slice(-(NAME_WIDTH - 1))}` : name.padEnd(NAME_WIDTH);
}

/** A reporter that draws bars; loads cli-progress only when bars are wanted. */
export async function createBarReporter(): Promise<TransferReporter> {
  const { default: cliProgress } = await import('cli-progress');
  const multibar = new cliProgress.MultiBar(
    { format: FORMAT, stream: process.stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 50, fps: 10 },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let total: ReturnType<typeof multibar.create> | undefined;
  let totalDone = 0;
  let totalBytes = 0;
  const payload = (name: string, done: number, size: number, since: number) => ({
    name: fit(name),
    done: formatBytes(done),
    size: formatBytes(size),
    rate: formatRate(done, (Date.now() - since) / 1000),
  });
  return {
    start(files, bytes) {
      totalBytes = bytes;
      total = multibar.create(Math.max(bytes, 1), 0, payload(`total (${files} files)`, 0, bytes, started));
    },
    file(job: FileJob) {
      const since = Date.now();
      let last = 0;
      const bar = multibar.create(Math.max(job.size, 1), 0, payload(job.remote, 0, job.size, since));
      return {
        progress(done: number) {
          totalDone += done - last;
          last = done;
          bar.update(done, payload(job.remote, done, job.size, since));
          total?.update(totalDone, payload('total', totalDone, totalBytes, started));
        },
        finish(_outcome: FileOutcome) {
          multibar.remove(bar);
        },
      };
    },
    stop() {
      total?.update(totalDone, payload('total', totalDone, totalBytes, started));
      multibar.stop();
    },
  };
}
