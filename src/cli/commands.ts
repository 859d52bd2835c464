/**
 * The commands of `ferry`, shared by the one-shot command line and the
 * interactive shell. Each takes a logged-in client and its arguments, prints its
 * result, and returns the exit code.
 */

import type { FerryClient } from '../client/client.js';
import {
  displayPath,
  downloadPlan,
  planDownload,
  planUpload,
  uploadPlan,
  type FileOutcome,
  type TransferReporter,
} from '../client/transfers.js';
import { FerryError } from '../protocol/errors.js';
import type { Entry } from '../protocol/messages.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { formatBytes, formatRate, formatTime } from './format.js';
import { errorJson, type Output } from './output.js';
import { createBarReporter } from './progress.js';

export interface CommandEnv {
  client: FerryClient;
  out: Output;
  /** Draw progress bars (a terminal, and neither --quiet nor --json). */
  bars: boolean;
}

async function reporterFor(env: CommandEnv): Promise<TransferReporter | undefined> {
  return env.bars ? createBarReporter() : undefined;
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
  const reporter = await reporterFor(env);
  const outcomes = await uploadPlan(env.client, plan, { noClobber: options.noClobber, ...(reporter ? { reporter } : {}) });
  return reportTransfers(env, 'upload', outcomes, started);
}

export async function download(env: CommandEnv, remotes: string[], options: { dest: string }): Promise<ExitCode> {
  const started = performance.now();
  const plan = await planDownload(env.client, remotes, options.dest);
  const reporter = await reporterFor(env);
  const outcomes = await downloadPlan(env.client, plan, reporter ? { reporter } : {});
  return reportTransfers(env, 'download', outcomes, started);
}

function entryLine(entry: Entry): string {
  const size = entry.type === 'dir' ? '-' : formatBytes(entry.size);
  const name = entry.type === 'dir' ? `${entry.name}/` : entry.name;
  return `${entry.type === 'dir' ? 'd' : '-'} ${size.padStart(10)}  ${formatTime(entry.mtime)}  ${name}`;
}

export async function list(env: CommandEnv, dir: string): Promise<ExitCode> {
  const entries = await env.client.list(dir);
  entries.sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type === 'dir' ? -1 : 1));
  for (const entry of entries) env.out.line(entryLine(entry));
  env.out.json(entries);
  return ExitCode.OK;
}

export async function stat(env: CommandEnv, path: string): Promise<ExitCode> {
  const entry = await env.client.stat(path);
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
  return eachPath(env, paths, 'removed', (path) => env.client.remove(path, options));
}

export function makeDirs(env: CommandEnv, paths: string[]): Promise<ExitCode> {
  return eachPath(env, paths, 'created', (path) => env.client.mkdir(path));
}

export async function move(env: CommandEnv, from: string, to: string, options: { noClobber: boolean }): Promise<ExitCode> {
  await env.client.rename(from, to, options);
  env.out.line(`moved ${from} -> ${to}`);
  env.out.json({ from, to, ok: true });
  return ExitCode.OK;
}
