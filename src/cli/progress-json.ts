/**
 * `--progress=json`: progress of long transfers as one JSON object per line on
 * standard error, for programs that drive ferry (a GUI, a script with a bar of
 * its own). Standard error, because standard output carries the result (and,
 * with `-o -`, the data). Lines for one file come at most every
 * PROGRESS_INTERVAL_MS, plus one when it ends, so a fast transfer does not
 * flood the reader.
 *
 * Each line is one of:
 *   {"event":"start","files":N,"bytes":N}
 *   {"event":"progress","file":"/remote/path","bytes":N,"total":N}   (total absent when unknown: a pipe)
 *   {"event":"file","file":"/remote/path","bytes":N,"ok":true}       (or "ok":false with "error":{code,message})
 *   {"event":"end","files":N,"bytes":N,"seconds":S}
 */

import type { FileJob, FileOutcome, TransferReporter } from '../client/transfer-plan.js';

const PROGRESS_INTERVAL_MS = 200;

/** The values of --progress: bars on a terminal (the default), these JSON lines, or nothing. */
export const PROGRESS_MODES = ['bars', 'json', 'none'];

function emit(line: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

/** Progress of one transfer whose size may be unknown (a pipe). */
export interface ProgressSink {
  update(state: { file: string; bytes: number; total?: number }): void;
}

/** A sink that prints a progress line now and then (always the first). */
export function jsonProgressSink(): ProgressSink {
  let last = -Infinity;
  return {
    update({ file, bytes, total }) {
      const now = performance.now();
      if (now - last < PROGRESS_INTERVAL_MS && bytes !== total) return;
      last = now;
      emit({ event: 'progress', file, bytes, ...(total !== undefined ? { total } : {}) });
    },
  };
}

/** A TransferReporter (folder and multi-file transfers) that prints JSON lines. */
export function createJsonReporter(): TransferReporter {
  const started = performance.now();
  let files = 0;
  let bytes = 0;
  return {
    start(totalFiles, totalBytes) {
      emit({ event: 'start', files: totalFiles, bytes: totalBytes });
    },
    file(job: FileJob) {
      const sink = jsonProgressSink();
      return {
        progress(done) {
          sink.update({ file: job.remote, bytes: done, total: job.size });
        },
        finish(outcome: FileOutcome) {
          files++;
          if (!outcome.error) bytes += outcome.size;
          const error = outcome.error ? { error: { code: outcome.error.code, message: outcome.error.message } } : {};
          emit({ event: 'file', file: outcome.remote, bytes: outcome.size, ok: !outcome.error, ...error });
        },
      };
    },
    stop() {
      emit({ event: 'end', files, bytes, seconds: (performance.now() - started) / 1000 });
    },
  };
}
