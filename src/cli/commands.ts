/**
 * The commands of `ferry`, shared by the one-shot command line and the
 * interactive shell. Each takes a logged-in client and its arguments, prints its
 * result, and returns the exit code.
 */

import {
  displayPath,
  downloadPlan,
  planDownload,
  planUpload,
  uploadPlan,
  SILENT_REPORTER,
  type FileOutcome,
  type TransferPlan,
  type TransferReporter,
} from '../client/transfers.js';
import type { FerryClient } from '../client/client.js';
import { FerryError } from '../protocol/errors.js';
import type { Entry } from '../protocol/messages.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { formatBytes, formatRate, formatTime } from './format.js';
import { isLost, type Connection } from './connect.js';
import { errorJson, type Output } from './output.js';
import { createBarReporter } from './progress.js';

export interface CommandEnv {
  connection: Connection;
  out: Output;
  /** Draw progress bars (a terminal, and neither --quiet nor --json). */
  bars: boolean;
}

async function reporterFor(env: CommandEnv): Promise<TransferReporter> {
  return env.bars ? createBarReporter() : SILENT_REPORTER;
}

type PlanRunner = (client: FerryClient, plan: TransferPlan, reporter: TransferReporter) => Promise<FileOutcome[]>;

/**
 * Runs a plan; files cut off by a lost connection are sent again over a new one
 * (a download continues from its part file), up to the connection's retries.
 */
async function runWithRetries(env: CommandEnv, plan: TransferPlan, run: PlanRunner): Promise<FileOutcome[]> {
  const reporter = await reporterFor(env);
  reporter.start(plan.files.length, plan.files.reduce((sum, file) => sum + file.size, 0));
  const done: FileOutcome[] = [];
  let pending = plan;
  try {
    for (let tries = 0; ; tries++) {
      const outcomes = await run(env.connection.client, pending, reporter).catch((error: unknown) => {
        if (!isLost(error)) throw error;
        return pending.files.map((file): FileOutcome => ({ ...file, error: error as FerryError }));
      });
      const lost = outcomes.filter((outcome) => isLost(outcome.error));
      if (lost.length === 0 || tries >= env.connection.retries) return [...done, ...outcomes];
      done.push(...outcomes.filter((outcome) => !isLost(outcome.error)));
      const again = new Set(lost.map((outcome) => outcome.remote));
      pending = { files: pending.files.filter((file) => again.has(file.remote)), folders: pending.folders, refused: [] };
      await env.connection.reconnect();
    }
  } finally {
    reporter.stop();
  }
}

function firstFailure(errors: readonly (FerryError | undefined)[]): ExitCode {
  const failed = errors.find((error) => error !== undefined);
  return failed ? exitCodeFor(failed.code) : ExitCode.OK;
}

function reportTransfers(env: CommandEnv, verb: string, outcomes: FileOutcome[], started: number): ExitCode {
  const seconds = (performance.now() - started) / 1000;
  let bytes = 0;
  for (const outcome of outcomes) {
    if (outcome.error) {
      env.out.problem(`${verb} failed: ${outcome.error.message}`);
      continue;
    }
    bytes += outcome.size;
    const resumed = outcome.resumedFrom ? `, resumed at ${formatBytes(outcome.resumedFrom)}` : '';
    const [from, to] = verb === 'upload' ? [displayPath(outcome.local), outcome.remote] : [outcome.remote, displayPath(outcome.local)];
    env.out.line(`${verb}ed ${from} -> ${to} (${formatBytes(outcome.size)}${resumed})`);
  }
  const ok = outcomes.filter((outcome) => !outcome.error).length;
  env.out.note(`${ok} of ${outcomes.length} files, ${formatBytes(bytes)} in ${seconds.toFixed(2)} s (${formatRate(bytes, seconds)})`);
  env.out.json({
    ok: ok === outcomes.length,
    files: outcomes.map((outcome) => ({
      local: outcome.local,
      remote: outcome.remote,
      size: outcome.size,
      sha256: outcome.sha256,
      resumedFrom: outcome.resumedFrom ?? 0,
      ...(outcome.error ? { error: errorJson(outcome.error) } : {}),
    })),
    bytes,
    seconds,
  });
  return firstFailure(outcomes.map((outcome) => outcome.error));
}

export async function upload(env: CommandEnv, locals: string[], options: { dest: string; noClobber: boolean }): Promise<ExitCode> {
  const started = performance.now();
  const plan = await planUpload(locals, options.dest);
  const outcomes = await runWithRetries(env, plan, (client, pending, reporter) =>
    uploadPlan(client, pending, { noClobber: options.noClobber, reporter }),
  );
  return reportTransfers(env, 'upload', outcomes, started);
}

export async function download(env: CommandEnv, remotes: string[], options: { dest: string }): Promise<ExitCode> {
  const started = performance.now();
  const plan = await env.connection.recovering((client) => planDownload(client, remotes, options.dest));
  const outcomes = await runWithRetries(env, plan, (client, pending, reporter) => downloadPlan(client, pending, { reporter }));
  return reportTransfers(env, 'download', outcomes, started);
}

function entryLine(entry: Entry): string {
  const size = entry.type === 'dir' ? '-' : formatBytes(entry.size);
  const name = entry.type === 'dir' ? `${entry.name}/` : entry.name;
  return `${entry.type === 'dir' ? 'd' : '-'} ${size.padStart(10)}  ${formatTime(entry.mtime)}  ${name}`;
}

export async function list(env: CommandEnv, dir: string): Promise<ExitCode> {
  const entries = await env.connection.recovering((client) => client.list(dir));
  entries.sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type === 'dir' ? -1 : 1));
  for (const entry of entries) env.out.line(entryLine(entry));
  env.out.json(entries);
  return ExitCode.OK;
}

export async function stat(env: CommandEnv, path: string): Promise<ExitCode> {
  const entry = await env.connection.recovering((client) => client.stat(path));
  env.out.line(`path:   ${path}`);
  env.out.line(`type:   ${entry.type === 'dir' ? 'folder' : 'file'}`);
  if (entry.type === 'file') env.out.line(`size:   ${entry.size} bytes (${formatBytes(entry.size)})`);
  env.out.line(`mtime:  ${new Date(entry.mtime).toISOString()}`);
  if (entry.sha256) env.out.line(`sha256: ${entry.sha256}`);
  env.out.json({ path, ...entry });
  return ExitCode.OK;
}

/** Runs one request per path, all pipelined, and reports each. */
async function eachPath(env: CommandEnv, paths: string[], verb: string, act: (path: string) => Promise<void>): Promise<ExitCode> {
  const results = await Promise.all(
    paths.map((path) =>
      act(path).then(
        () => ({ path, error: undefined }),
        (error: unknown) => {
          if (!(error instanceof FerryError)) throw error;
          return { path, error };
        },
      ),
    ),
  );
  for (const { path, error } of results) {
    if (error) env.out.problem(`${path}: ${error.message}`);
    else env.out.line(`${verb} ${path}`);
  }
  env.out.json(results.map(({ path, error }) => ({ path, ok: !error, ...(error ? { error: errorJson(error) } : {}) })));
  return firstFailure(results.map((result) => result.error));
}

export function remove(env: CommandEnv, paths: string[], options: { recursive: boolean }): Promise<ExitCode> {
  return eachPath(env, paths, 'removed', (path) => env.connection.recovering((client) => client.remove(path, options)));
}

export function makeDirs(env: CommandEnv, paths: string[]): Promise<ExitCode> {
  return eachPath(env, paths, 'created', (path) => env.connection.recovering((client) => client.mkdir(path)));
}

export async function move(env: CommandEnv, from: string, to: string, options: { noClobber: boolean }): Promise<ExitCode> {
  await env.connection.recovering((client) => client.rename(from, to, options));
  env.out.line(`moved ${from} -> ${to}`);
  env.out.json({ from, to, ok: true });
  return ExitCode.OK;
}
