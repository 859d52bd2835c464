/**
 * The commands of `ferry`, shared by the one-shot command line and the
 * interactive shell. Each takes a logged-in client and its arguments, prints its
 * result, and returns the exit code.
 */

import { downloadPlan, planDownload } from '../client/download-plan.js';
import { SILENT_REPORTER, type FileOutcome, type TransferPlan, type TransferReporter } from '../client/transfer-plan.js';
import { planUpload, uploadPlan } from '../client/upload-plan.js';
import { readdir, stat as localStat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { FerryClient } from '../client/client.js';
import { Excludes } from '../client/excludes.js';
import { FerryError, ferryError, systemErrorCode } from '../protocol/errors.js';
import type { Entry } from '../protocol/messages.js';
import { formatRemotePath, joinRemote, parseRemotePath, remoteBaseName } from '../protocol/paths.js';
import { splitDestination, type Destination } from './destination.js';
import { ExitCode, exitCodeForAll } from './exit-codes.js';
import { formatBytes, formatTime } from './format.js';
import { isLost, type Connection } from './connect.js';
import { errorJson, type Output } from './output.js';
import { createBarReporter } from './progress.js';
import { createJsonReporter } from './progress-json.js';
import { reportTransfers } from './transfer-report.js';

export interface CommandEnv {
  connection: Connection;
  out: Output;
  /** Draw progress bars (a terminal, and neither --quiet nor --json). */
  bars: boolean;
  /** `--progress=json`: progress as JSON lines on stderr instead of bars. */
  progressJson?: boolean;
  /** The remote working folder that relative remote paths start from (the shell's); the home by default. */
  cwd?: readonly string[];
}

/** A remote path as typed, made `/`-rooted against a working folder; a trailing `/` is kept, for it means "into". */
export function remoteFrom(cwd: readonly string[], typed: string): string {
  const segments = typed.startsWith('/') ? parseRemotePath(typed) : [...cwd, ...parseRemotePath(typed)];
  const path = formatRemotePath(segments);
  return typed.endsWith('/') && segments.length > 0 ? `${path}/` : path;
}

function remotePathIn(env: CommandEnv): (path: string) => string {
  return (path) => remoteFrom(env.cwd ?? [], path);
}

async function reporterFor(env: CommandEnv): Promise<TransferReporter> {
  if (env.progressJson) return createJsonReporter();
  return env.bars ? createBarReporter() : SILENT_REPORTER;
}

type PlanRunner = (client: FerryClient, plan: TransferPlan, reporter: TransferReporter) => Promise<FileOutcome[]>;

/**
 * Runs a plan; files cut off by a lost connection are sent again over a new one
 * (a download continues from its part file), up to the connection's retries.
 */
export async function runWithRetries(env: CommandEnv, plan: TransferPlan, run: PlanRunner): Promise<FileOutcome[]> {
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
      // Ctrl-C in the shell ends the whole command, not file by file.
      const cancelled = outcomes.find((outcome) => outcome.error?.code === 'CANCELLED');
      if (cancelled?.error) throw cancelled.error;
      const lost = outcomes.filter((outcome) => isLost(outcome.error));
      if (lost.length === 0 || tries >= env.connection.retries) return [...done, ...outcomes];
      done.push(...outcomes.filter((outcome) => !isLost(outcome.error)));
      const again = new Set(lost.map((outcome) => outcome.remote));
      pending = { ...pending, files: pending.files.filter((file) => again.has(file.remote)), refused: [] };
      await env.connection.reconnect();
    }
  } finally {
    reporter.stop();
  }
}

/** What a typed remote path names: a file, a folder, or nothing (also when it cannot be a remote path at all). */
async function remoteType(env: CommandEnv, typed: string): Promise<Entry['type'] | undefined> {
  try {
    const path = remotePathIn(env)(typed);
    return (await env.connection.recovering((client) => client.stat(path))).type;
  } catch (error) {
    if (error instanceof FerryError && (error.code === 'NOT_FOUND' || error.code === 'BAD_PATH' || error.code === 'NOT_A_DIRECTORY')) return undefined;
    throw error;
  }
}

async function localType(path: string): Promise<'file' | 'dir' | undefined> {
  const found = await localStat(path).catch(() => undefined);
  return found === undefined ? undefined : found.isDirectory() ? 'dir' : 'file';
}

function endsWithLocalSeparator(path: string): boolean {
  return path.endsWith('/') || path.endsWith(sep);
}

/** What `upload` and `download` of folders may leave out (see client/excludes.ts, client/same-content.ts). */
export interface SelectionOptions {
  /** Leave out files the destination already holds with the same size and SHA-256. */
  skipExisting?: boolean;
  /** gitignore-style patterns to leave out (uploads; `.ferryignore` files are read too). */
  excludes?: string[];
  /** Send what local symbolic links point to, rather than skipping them. */
  followSymlinks?: boolean;
}

export async function upload(env: CommandEnv, args: string[], options: { dest?: string; noClobber: boolean } & SelectionOptions): Promise<ExitCode> {
  const started = performance.now();
  const remote = remotePathIn(env);
  const { sources, destination } = await splitDestination(args, options.dest, {
    verb: 'upload',
    defaultFolder: remote(''),
    isSource: async (path) => (await localType(path)) !== undefined,
    isFolder: async (path) => (await remoteType(env, path)) === 'dir',
    endsWithSeparator: (path) => path.endsWith('/'),
    sourceKind: 'a local file or folder',
    folderKind: 'a remote folder',
  });
  const walk = { excludes: Excludes.fromPatterns(options.excludes ?? []), followSymlinks: options.followSymlinks ?? false };
  const plan =
    destination.kind === 'into'
      ? await planUpload(sources, remote(destination.folder), walk)
      : await planUpload(sources, '/', { ...walk, as: remote(destination.name) });
  for (const notice of plan.notices ?? []) env.out.problem(notice);
  const outcomes = await runWithRetries(env, plan, (client, pending, reporter) =>
    uploadPlan(client, pending, { noClobber: options.noClobber, skipExisting: options.skipExisting ?? false, reporter }),
  );
  return reportTransfers(env, 'upload', plan, outcomes, started);
}

export async function download(
  env: CommandEnv,
  args: string[],
  options: { dest?: string; noClobber: boolean; output?: string; fsync?: boolean } & SelectionOptions,
): Promise<ExitCode> {
  const started = performance.now();
  const remote = remotePathIn(env);
  // -o FILE names the local file outright, whatever exists under that name on either side.
  const named = options.output === undefined ? undefined : { sources: args, destination: { kind: 'as', name: options.output } as const };
  const { sources, destination } = named ?? await splitDestination(args, options.dest, {
    verb: 'download',
    defaultFolder: '.',
    isSource: async (path) => (await remoteType(env, path)) !== undefined,
    isFolder: async (path) => (await localType(path)) === 'dir',
    endsWithSeparator: endsWithLocalSeparator,
    sourceKind: 'a remote file or folder',
    folderKind: 'a local folder',
  });
  const remotes = sources.map(remote);
  const plan = await env.connection.recovering((client) => planDownloadTo(client, remotes, destination));
  const outcomes = await runWithRetries(env, plan, (client, pending, reporter) =>
    downloadPlan(client, pending, { reporter, noClobber: options.noClobber, skipExisting: options.skipExisting ?? false, fsync: options.fsync ?? false }),
  );
  return reportTransfers(env, 'download', plan, outcomes, started);
}

function planDownloadTo(client: FerryClient, remotes: string[], destination: Destination): Promise<TransferPlan> {
  return destination.kind === 'into' ? planDownload(client, remotes, destination.folder) : planDownload(client, remotes, '.', { as: destination.name });
}

function entryLine(entry: Entry): string {
  const size = entry.type === 'dir' ? '-' : formatBytes(entry.size);
  const name = entry.type === 'dir' ? `${entry.name}/` : entry.name;
  return `${entry.type === 'dir' ? 'd' : '-'} ${size.padStart(10)}  ${formatTime(entry.mtime)}  ${name}`;
}

export async function list(env: CommandEnv, dirArg: string): Promise<ExitCode> {
  const dir = remotePathIn(env)(dirArg);
  printEntries(env, await env.connection.recovering((client) => client.list(dir)));
  return ExitCode.OK;
}

function printEntries(env: CommandEnv, entries: Entry[]): void {
  entries.sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type === 'dir' ? -1 : 1));
  for (const entry of entries) env.out.line(entryLine(entry));
  env.out.json(entries);
}

/** The shell's `lls`: a local folder, shown as `ls` shows a remote one. */
export async function listLocal(env: CommandEnv, dir: string): Promise<ExitCode> {
  const dirents = await readdir(dir, { withFileTypes: true }).catch((error: unknown) => {
    const code = systemErrorCode(error);
    if (code === 'ENOENT') throw ferryError('NOT_FOUND', `${dir} does not exist on this computer`, error);
    if (code === 'ENOTDIR') throw ferryError('NOT_A_DIRECTORY', `${dir} is a file, not a folder`, error);
    throw ferryError('LOCAL_IO', `cannot list ${dir}: ${(error as Error).message}`, error);
  });
  const entries: Entry[] = [];
  for (const dirent of dirents) {
    const found = await localStat(join(dir, dirent.name)).catch(() => undefined);
    if (found?.isDirectory()) entries.push({ name: dirent.name, type: 'dir', size: 0, mtime: found.mtimeMs });
    else if (found?.isFile()) entries.push({ name: dirent.name, type: 'file', size: found.size, mtime: found.mtimeMs });
  }
  printEntries(env, entries);
  return ExitCode.OK;
}

export async function stat(env: CommandEnv, pathArg: string): Promise<ExitCode> {
  const path = remotePathIn(env)(pathArg);
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
    // Most messages already name the path; say it once.
    if (error) env.out.problem(error.message.includes(path) ? error.message : `${path}: ${error.message}`, error);
    else env.out.line(`${verb} ${path}`);
  }
  env.out.json(results.map(({ path, error }) => ({ path, ok: !error, ...(error ? { error: errorJson(error) } : {}) })));
  return exitCodeForAll(results.map((result) => result.error));
}

export function remove(env: CommandEnv, paths: string[], options: { recursive: boolean }): Promise<ExitCode> {
  return eachPath(env, paths.map(remotePathIn(env)), 'removed', async (path) => {
    try {
      await env.connection.recovering((client) => client.remove(path, options));
    } catch (error) {
      if (error instanceof FerryError && error.code === 'NOT_EMPTY') {
        throw ferryError('NOT_EMPTY', `${path} is not empty; to remove it and everything in it, use rm -r ${path}`, error);
      }
      throw error;
    }
  });
}

export function makeDirs(env: CommandEnv, paths: string[]): Promise<ExitCode> {
  return eachPath(env, paths.map(remotePathIn(env)), 'created', (path) => env.connection.recovering((client) => client.mkdir(path)));
}

/** `mv a /photos/` or `mv a /photos` with /photos a folder moves `a` inside it, as mv does. */
async function moveTarget(env: CommandEnv, from: string, typed: string): Promise<string> {
  const to = remotePathIn(env)(typed);
  const inside = to.endsWith('/') || (await remoteType(env, to)) === 'dir';
  return inside ? joinRemote(to, remoteBaseName(from)) : to;
}

export async function move(env: CommandEnv, fromArg: string, toArg: string, options: { noClobber: boolean }): Promise<ExitCode> {
  const from = remotePathIn(env)(fromArg);
  const to = await moveTarget(env, from, toArg);
  await env.connection.recovering((client) => client.rename(from, to, options));
  env.out.line(`moved ${from} -> ${to}`);
  env.out.json({ from, to, ok: true });
  return ExitCode.OK;
}
