/**
 * `ferry sync SRC DST`: a one-way mirror of a folder, in either direction; the
 * remote side is written with a leading colon, as in scp and rsync
 * (`ferry sync photos :/photos`, `ferry sync :/photos photos`). The target's
 * contents become the source's: files are sent only when sync-plan.ts finds them
 * different, times follow, and with --delete what the source lacks goes (only
 * inside the target). --dry-run prints the plan and changes nothing.
 */

import { mkdir, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Excludes } from '../client/excludes.js';
import { localNameProblem } from '../client/local-names.js';
import { compareDigests, remoteUnder, scanLocal, scanRemote, type Comparison, type ScannedTree } from '../client/sync-trees.js';
import { planSync, sameTime, typeConflicts, type SendReason, type SyncFile, type SyncPlan, type Tree } from '../client/sync-plan.js';
import { downloadPlan } from '../client/download-plan.js';
import type { FileJob, FileOutcome, TransferPlan } from '../client/transfer-plan.js';
import { uploadPlan } from '../client/upload-plan.js';
import { FerryError, ferryError } from '../protocol/errors.js';
import { formatRemotePath, parseRemotePath } from '../protocol/paths.js';
import { remoteFrom, runWithRetries, type CommandEnv } from './commands.js';
import { type ExitCode, exitCodeForAll } from './exit-codes.js';
import { formatBytes } from './format.js';
import { errorJson } from './output.js';

export interface SyncCommandOptions {
  dryRun: boolean;
  delete: boolean;
  checksum: boolean;
  excludes: string[];
  followSymlinks: boolean;
}

type Direction = 'up' | 'down';

/** Which side is remote: exactly one of the two is written `:path`. */
export function syncSides(source: string, target: string): { direction: Direction; local: string; remote: string } {
  const remoteSource = source.startsWith(':');
  const remoteTarget = target.startsWith(':');
  if (remoteSource === remoteTarget) {
    throw ferryError(
      'USAGE',
      `write the remote side of a sync with a leading colon, and only that side: "ferry sync photos :/photos" sends, "ferry sync :/photos photos" fetches`,
    );
  }
  return remoteTarget ? { direction: 'up', local: source, remote: target.slice(1) } : { direction: 'down', local: target, remote: source.slice(1) };
}

type Action = { action: 'send'; path: string; size: number; reason: SendReason | 'content differs' } | { action: 'time'; path: string } | { action: 'delete'; path: string; type: 'file' | 'dir' };

function actionLine(action: Action): string {
  switch (action.action) {
    case 'send':
      return `send    ${action.path} (${formatBytes(action.size)}, ${action.reason})`;
    case 'time':
      return `time    ${action.path} (same SHA-256: only its time is set)`;
    case 'delete':
      return `delete  ${action.type === 'dir' ? `${action.path}/` : action.path}`;
  }
}

type Failure = { path: string; error: FerryError };

interface Paths {
  localPath(relative: string): string;
  remotePath(relative: string): string;
}

/** What a run will do, once the digests have settled what the plan left open. */
interface Decision {
  plan: SyncPlan;
  send: (SyncFile & { reason: SendReason | 'content differs' })[];
  timeOnly: SyncFile[];
  skipped: number;
  actions: Action[];
}

/**
 * The trees as the plan may see them: names this computer cannot hold are
 * reported (never renamed), type conflicts without --delete are reported, and
 * what the source's rules leave out is no business of the sync on the target
 * either (so it is never deleted).
 */
function comparableTrees(direction: Direction, source: ScannedTree, target: ScannedTree, paths: Paths, withDelete: boolean, failures: Failure[]): { from: Tree; to: Tree } {
  const from = new Map(source.tree);
  const to = new Map(target.tree);
  if (direction === 'down') {
    for (const path of source.tree.keys()) {
      const problem = path.split('/').map((segment) => localNameProblem(segment)).find((found) => found !== undefined);
      if (problem === undefined) continue;
      failures.push({ path, error: ferryError('BAD_PATH', `${paths.remotePath(path)} cannot be saved here: ${problem}`) });
      from.delete(path);
    }
  }
  for (const [path, entry] of target.tree) if (!from.has(path) && source.excluded(path, entry.type)) to.delete(path);
  if (!withDelete) {
    for (const path of typeConflicts(from, to)) {
      const [sourceKind, targetKind] = from.get(path)?.type === 'dir' ? ['folder', 'file'] : ['file', 'folder'];
      failures.push({ path, error: ferryError('EXISTS', `${path} is a ${sourceKind} in the source but a ${targetKind} in the target; sync with --delete to replace it`) });
    }
  }
  return { from, to };
}

async function decide(env: CommandEnv, from: Tree, to: Tree, options: SyncCommandOptions, paths: Paths): Promise<Decision> {
  const plan = planSync(from, to, { checksum: options.checksum, delete: options.delete });
  const settled = await env.connection.recovering((client) => compareDigests(client, plan.compare, paths));
  const compared = plan.compare.map((file, index) => ({ file, outcome: settled[index] as Comparison }));
  const send = [
    ...plan.send,
    ...compared.filter(({ outcome }) => outcome === 'send').map(({ file }) => ({ ...file, reason: 'content differs' as const })),
  ].sort((a, b) => (a.path < b.path ? -1 : 1));
  const timeOnly = compared.filter(({ outcome }) => outcome === 'time').map(({ file }) => file);
  const skipped = plan.skip.length + compared.filter(({ outcome }) => outcome === 'skip').length;
  const actions: Action[] = [
    ...plan.remove.map((entry): Action => ({ action: 'delete', ...entry })),
    ...send.map((file): Action => ({ action: 'send', path: file.path, size: file.size, reason: file.reason })),
    ...timeOnly.map((file): Action => ({ action: 'time', path: file.path })),
  ];
  return { plan, send, timeOnly, skipped, actions };
}

/** Carries a decision out: deletes first (they free space and make way for replacements), then files, then times. */
async function apply(
  env: CommandEnv,
  direction: Direction,
  decision: Decision,
  trees: { source: ScannedTree; target: ScannedTree; to: Tree },
  paths: Paths,
  failures: Failure[],
): Promise<{ outcomes: FileOutcome[]; deleted: number }> {
  const { plan, send, timeOnly } = decision;
  const deleted = await removeGone(env, direction, plan.remove.map((entry) => entry.path), paths, failures);
  const sideOf = direction === 'up' ? paths.remotePath : paths.localPath;
  const changed = [...send.map((file) => file.path), ...plan.remove.map((entry) => entry.path), ...plan.folders];
  const folderTimes = [{ path: '', mtime: trees.source.mtime }, ...plan.folderTimes]
    .filter((folder) => folder.mtime > 0 && needsTime(folder.path, folder.mtime, folder.path === '' ? trees.target.mtime : trees.to.get(folder.path)?.mtime, changed))
    .map((folder) => ({ path: sideOf(folder.path), mtime: folder.mtime }));
  const transfer: TransferPlan = {
    files: send.map((file): FileJob => ({ local: paths.localPath(file.path), remote: paths.remotePath(file.path), size: file.size, mtime: file.mtime })),
    // The home itself always exists (and cannot be made).
    folders: [sideOf(''), ...plan.folders.map(sideOf)].filter((folder) => direction === 'down' || folder !== '/'),
    refused: [],
    folderTimes,
  };
  let outcomes: FileOutcome[];
  if (direction === 'up') {
    outcomes = await runWithRetries(env, transfer, (client, pending, reporter) => uploadPlan(client, pending, { reporter }));
  } else {
    outcomes = await runWithRetries(env, transfer, (client, pending, reporter) => downloadPlan(client, pending, { reporter }));
  }
  await setTimes(env, direction, timeOnly, paths, failures);
  for (const outcome of outcomes) if (outcome.error) failures.push({ path: direction === 'up' ? outcome.local : outcome.remote, error: outcome.error });
  return { outcomes, deleted };
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

export async function sync(env: CommandEnv, sourceArg: string, targetArg: string, options: SyncCommandOptions): Promise<ExitCode> {
  const started = performance.now();
  const { direction, local, remote: typedRemote } = syncSides(sourceArg, targetArg);
  const remote = formatRemotePath(parseRemotePath(remoteFrom(env.cwd ?? [], typedRemote)));
  const excludes = Excludes.fromPatterns(options.excludes);
  // The two walks overlap: the local one runs while the server lists.
  const [localSide, remoteSide] = await Promise.all([
    scanLocal(local, excludes, { followSymlinks: options.followSymlinks, ignoreFiles: direction === 'up' }),
    env.connection.recovering((client) => scanRemote(client, remote, excludes)),
  ]);
  const [source, target] = direction === 'up' ? [localSide, remoteSide] : [remoteSide, localSide];
  if (!source.exists) {
    throw ferryError('NOT_FOUND', direction === 'up' ? `${local} does not exist on this computer` : `${remote} does not exist on the server`);
  }
  if (direction === 'up') for (const notice of source.notices) env.out.problem(notice);

  const paths: Paths = { localPath: (relative) => (relative === '' ? local : join(local, ...relative.split('/'))), remotePath: remoteUnder(remote) };
  const failures: Failure[] = [...source.failures, ...target.failures];
  const { from, to } = comparableTrees(direction, source, target, paths, options.delete, failures);
  const decision = await decide(env, from, to, options, paths);
  if (options.dryRun || env.out.options.verbose === true) for (const action of decision.actions) env.out.line(actionLine(action));

  let result: { outcomes: FileOutcome[]; deleted: number } = { outcomes: [], deleted: 0 };
  if (!options.dryRun) {
    if (direction === 'down') {
      await mkdir(local, { recursive: true }).catch((error: unknown) => {
        throw ferryError('LOCAL_IO', `cannot create ${local}: ${(error as Error).message}`, error);
      });
    }
    result = await apply(env, direction, decision, { source, target, to }, paths, failures);
  }
  for (const failure of failures) env.out.problem(failure.error.message.includes(failure.path) ? failure.error.message : `${failure.path}: ${failure.error.message}`, failure.error);

  const { send, timeOnly, skipped, plan, actions } = decision;
  const sent = result.outcomes.filter((outcome) => !outcome.error);
  const files = options.dryRun ? send.length : sent.length;
  const bytes = (options.dryRun ? send : sent).reduce((sum, file) => sum + file.size, 0);
  const deleted = options.dryRun ? plan.remove.length : result.deleted;
  const seconds = (performance.now() - started) / 1000;
  env.out.line(
    options.dryRun
      ? `dry run: would send ${plural(files, 'file', 'files')} (${formatBytes(bytes)}), set ${plural(timeOnly.length, 'time', 'times')}, skip ${skipped}, delete ${deleted}; nothing was changed`
      : `sent ${plural(files, 'file', 'files')} (${formatBytes(bytes)}), set ${plural(timeOnly.length, 'time', 'times')}, skipped ${skipped}, deleted ${deleted} in ${seconds.toFixed(2)} s` +
          (failures.length > 0 ? `; ${failures.length} failed` : ''),
  );
  env.out.json({
    ok: failures.length === 0,
    dryRun: options.dryRun,
    direction: direction === 'up' ? 'upload' : 'download',
    actions,
    sent: { files, bytes },
    timesSet: timeOnly.length,
    skipped,
    deleted,
    failures: failures.map((failure) => ({ path: failure.path, error: errorJson(failure.error) })),
    seconds,
  });
  // Partly failed (8) when anything else went right; else the first failure's code.
  return exitCodeForAll([...failures.map((failure) => failure.error), ...Array.from({ length: actions.length + skipped }, () => undefined)]);
}

/** A folder takes the source's time when it has another, or when anything inside it changed (which changes its time). */
function needsTime(path: string, mtime: number, targetMtime: number | undefined, changed: readonly string[]): boolean {
  if (targetMtime === undefined || !sameTime(mtime, targetMtime)) return true;
  return changed.some((inside) => path === '' || inside.startsWith(`${path}/`));
}

/** Removes what the source no longer has; only paths below the target's top ever reach here. */
async function removeGone(env: CommandEnv, direction: Direction, paths: string[], where: Paths, failures: Failure[]): Promise<number> {
  const results = await Promise.all(
    paths.map(async (path) => {
      try {
        if (direction === 'up') await env.connection.recovering((client) => client.remove(where.remotePath(path), { recursive: true }));
        else await rm(where.localPath(path), { recursive: true, force: true });
        return true;
      } catch (error) {
        failures.push({ path, error: error instanceof FerryError ? error : ferryError('LOCAL_IO', `cannot remove ${where.localPath(path)}: ${(error as Error).message}`, error) });
        return false;
      }
    }),
  );
  return results.filter(Boolean).length;
}

/** Gives files whose bytes already match the source's time. */
async function setTimes(env: CommandEnv, direction: Direction, files: SyncFile[], where: Paths, failures: Failure[]): Promise<void> {
  if (direction === 'up' && !env.connection.client.supports('mtime')) {
    if (files.length > 0) env.out.problem(`this server keeps no file times, so ${files.length} unchanged files keep theirs; upgrade it to keep times`);
    return;
  }
  await Promise.all(
    files.map(async (file) => {
      try {
        if (direction === 'up') await env.connection.recovering((client) => client.touch(where.remotePath(file.path), file.mtime));
        else await utimes(where.localPath(file.path), new Date(), new Date(file.mtime));
      } catch (error) {
        failures.push({ path: file.path, error: error instanceof FerryError ? error : ferryError('LOCAL_IO', `cannot set the time of ${where.localPath(file.path)}: ${(error as Error).message}`, error) });
      }
    }),
  );
}
