/**
 * What `upload` and `download` print when they end: each failure, then a line per
 * file or one summary line for a folder, the --json document, and the exit code
 * for the whole transfer.
 */

import { displayPath, type FileOutcome, type TransferPlan } from '../client/transfer-plan.js';
import type { FerryError } from '../protocol/errors.js';
import type { CommandEnv } from './commands.js';
import { isLost } from './connect.js';
import { type ExitCode, exitCodeForAll } from './exit-codes.js';
import { formatBytes, formatRate } from './format.js';
import { errorJson } from './output.js';

/** What a transfer tells when the client gave up on a lost connection. */
const RESUME_HINT = 'the connection was lost and the retries ran out; run the same command again to resume where it stopped';

function summary(verb: string, outcomes: FileOutcome[], bytes: number, seconds: number): string {
  const ok = outcomes.filter((outcome) => !outcome.error).length;
  const replaced = outcomes.filter((outcome) => outcome.replaced).length;
  const files = outcomes.length === 1 ? 'file' : 'files';
  const replacedNote = replaced > 0 ? `; ${replaced} local ${replaced === 1 ? 'file' : 'files'} replaced` : '';
  return `${verb}ed ${ok} of ${outcomes.length} ${files}, ${formatBytes(bytes)} in ${seconds.toFixed(2)} s (${formatRate(bytes, seconds)})${replacedNote}`;
}

function failureLine(verb: string, outcome: FileOutcome): string {
  const name = verb === 'upload' ? displayPath(outcome.local) : outcome.remote;
  const message = (outcome.error as FerryError).message;
  return message.includes(name) || message.includes(outcome.local) ? message : `${name}: ${message}`;
}

/**
 * Prints a transfer's results: failures always; then one line per file when the
 * files were named one by one (or with --verbose), else one summary line for the
 * folder transfer.
 */
export function reportTransfers(env: CommandEnv, verb: string, plan: TransferPlan, outcomes: FileOutcome[], started: number): ExitCode {
  const seconds = (performance.now() - started) / 1000;
  const eachFile = env.out.options.verbose === true || plan.folders.length === 0;
  let bytes = 0;
  for (const outcome of outcomes) {
    if (outcome.error) {
      env.out.problem(failureLine(verb, outcome), outcome.error);
      continue;
    }
    if (outcome.skipped) continue;
    bytes += outcome.size;
    if (!eachFile) continue;
    const resumed = outcome.resumedFrom ? `, resumed at ${formatBytes(outcome.resumedFrom)}` : '';
    const replaced = outcome.replaced ? ', replaced the local file' : '';
    const [from, to] = verb === 'upload' ? [displayPath(outcome.local), outcome.remote] : [outcome.remote, displayPath(outcome.local)];
    env.out.line(`${verb}ed ${from} -> ${to} (${formatBytes(outcome.size)}${resumed}${replaced})`);
  }
  const ok = outcomes.filter((outcome) => !outcome.error).length;
  if (eachFile) env.out.note(`${ok} of ${outcomes.length} files, ${formatBytes(bytes)} in ${seconds.toFixed(2)} s (${formatRate(bytes, seconds)})`);
  else env.out.line(summary(verb, outcomes, bytes, seconds));
  const skipped = outcomes.filter((outcome) => outcome.skipped).length;
  if (skipped > 0) env.out.note(`${skipped} ${skipped === 1 ? 'file was' : 'files were'} already there with the same size and SHA-256: skipped`);
  if (outcomes.some((outcome) => isLost(outcome.error))) env.out.problem(RESUME_HINT);
  env.out.json({
    ok: ok === outcomes.length,
    files: outcomes.map((outcome) => ({
      local: outcome.local,
      remote: outcome.remote,
      size: outcome.size,
      sha256: outcome.sha256,
      resumedFrom: outcome.resumedFrom ?? 0,
      ...(outcome.replaced ? { replaced: true } : {}),
      ...(outcome.skipped ? { skipped: true } : {}),
      ...(outcome.error ? { error: errorJson(outcome.error) } : {}),
    })),
    bytes,
    seconds,
  });
  return exitCodeForAll(outcomes.map((outcome) => outcome.error));
}
