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
import { planSync, sameTime, typeConflicts, type SendReason, type SyncFile } from '../client/sync-plan.js';
import { downloadPlan, uploadPlan, type FileJob, type FileOutcome, type TransferPlan } from '../client/transfers.js';
import { FerryError, ferryError } from '../protocol/errors.js';
import { formatRemotePath, parseRemotePath } from '../protocol/paths.js';
import { remoteFrom, runWithRetries, type CommandEnv } from './commands.js';
import { ExitCode, exitCodeForAll } from './exit-codes.js';
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

export async function sync(env: CommandEnv, sourceArg: string, targetArg: string, options: SyncCommandOptions): Promise<ExitCode> {
  const started = performance.now();
  const { direction, local, remote: typedRemote } = syncSides(sourceArg, targetArg);
  const remote = formatRemotePath(parseRemotePath(remoteFrom(env.cwd ?? [], typedRemote)));
  const excludes = Excludes.fromPatterns(options.excludes);
  const scanLocalSide = (): Promise<ScannedTree> => scanLocal(local, excludes, { followSymlinks: options.followSymlinks, ignoreFiles: direction === 'up' });
  const scanRemoteSide = (): Promise<ScannedTree> => env.connection.recovering((client) => scanRemote(client, remote, excludes));
  // The two walks overlap: the local one runs while the server lists.
  const [localSide, remoteSide] = await Promise.all([scanLocalSide(), scanRemoteSide()]);
  const [source, target] = direction === 'up' ? [localSide, remoteSide] : [remoteSide, localSide];
  if (!source.exists) {
    throw ferryError('NOT_FOUND', direction === 'up' ? `${local} does not exist on this computer` : `${remote} does not exist on the server`);
  }
  if (direction === 'up') for (const notice of source.notices) env.out.problem(notice);

  const localPath = (relative: string): string => (relative === '' ? local : join(local, ...relative.split('/')));
  const remotePath = remoteUnder(remote);
  const failures: { path: string; error: FerryError }[] = [...source.failures, ...target.failures];
  // Names this computer cannot hold are reported, never renamed.
  if (direction === 'down') {
    for (const [path, entry] of [...source.tree]) {
      const problem = path.split('/').map((segment) => localNameProblem(segment)).find((found) => found !== undefined);
      if (problem === undefined) continue;
      failures.push({ path, error: ferryError('BAD_PATH', `${remotePath(path)} cannot be saved here: ${problem}`) });
      (source.tree as Map<string, typeof entry>).delete(path);
    }
  }
  for (const path of options.delete ? [] : typeConflicts(source.tree, target.tree)) {
    failures.push({ path, error: ferryError('EXISTS', `${path} is a ${source.tree.get(path)?.type === 'dir' ? 'file' : 'folder'} on the target and a ${source.tree.get(path)?.type === 'dir' ? 'folder' : 'file'} in the source; sync with --delete to replace it`) });
  }

  // What the source's rules leave out is no business of this sync on the target either (never deleted).
  for (const [path, entry] of [...target.tree]) if (!source.tree.has(path) && source.excluded(path, entry.type)) (target.tree as Map<string, typeof entry>).delete(path);
  const plan = planSync(source.tree, target.tree, { checksum: options.checksum, delete: options.delete });
  const decided = await env.connection.recovering((client) => compareDigests(client, plan.compare, { localPath, remotePath }));
  const compared = plan.compare.map((file, index) => ({ file, outcome: decided[index] as Comparison }));
  const toSend: (SyncFile & { reason: SendReason | 'content differs' })[] = [
    ...plan.send,
    ...compared.filter(({ outcome }) => outcome === 'send').map(({ file }) => ({ ...file, reason: 'content differs' as const })),
  ].sort((a, b) => (a.path < b.path ? -1 : 1));
  const timeOnly = compared.filter(({ outcome }) => outcome === 'time').map(({ file }) => file);
  const skipped = plan.skip.length + compared.filter(({ outcome }) => outcome === 'skip').length;

  const actions: Action[] = [
    ...plan.remove.map((entry): Action => ({ action: 'delete', ...entry })),
    ...toSend.map((file): Action => ({ action: 'send', path: file.path, size: file.size, reason: file.reason })),
    ...timeOnly.map((file): Action => ({ action: 'time', path: file.path })),
  ];
  const verbose = options.dryRun || env.out.options.verbose === true;
  if (verbose) for (const action of actions) env.out.line(actionLine(action));

  let outcomes: FileOutcome[] = [];
  let deleted = 0;
  if (!options.dryRun) {
    deleted = await removeGone(env, direction, plan.remove.map((entry) => entry.path), { localPath, remotePath }, failures);
    const jobs: FileJob[] = toSend.map((file) => ({ local: localPath(file.path), remote: remotePath(file.path), size: file.size, mtime: file.mtime }));
    const sideOf = direction === 'up' ? remotePath : localPath;
    const changed = [...toSend.map((file) => file.path), ...plan.remove.map((entry) => entry.path), ...plan.folders];
    const folderTimes = [{ path: '', mtime: source.mtime }, ...plan.folderTimes]
      .filter((folder) => folder.mtime > 0 && needsTime(folder.path, folder.mtime, folder.path === '' ? target.mtime : target.tree.get(folder.path)?.mtime, changed))
      .map((folder) => ({ path: sideOf(folder.path), mtime: folder.mtime }));
    const transfer: TransferPlan = {
      files: jobs,
      // The home itself always exists (and cannot be made).
      folders: [sideOf(''), ...plan.folders.map(sideOf)].filter((folder) => direction === 'down' || folder !== '/'),
      refused: [],
      folderTimes,
    };
    if (direction === 'up') {
      outcomes = await runWithRetries(env, transfer, (client, pending, reporter) => uploadPlan(client, pending, { reporter }));
    } else {
      await mkdir(local, { recursive: true }).catch((error: unknown) => {
        throw ferryError('LOCAL_IO', `cannot create ${local}: ${(error as Error).message}`, error);
      });
      outcomes = await runWithRetries(env, transfer, (client, pending, reporter) => downloadPlan(client, pending, { reporter }));
    }
    await setTimes(env, direction, timeOnly, { localPath, remotePath }, failures);
  }

  const sent = outcomes.filter((outcome) => !outcome.error);
  const bytes = sent.reduce((sum, outcome) => sum + outcome.size, 0);
  for (const outcome of outcomes.filter((outcome) => outcome.error)) failures.push({ path: direction === 'up' ? outcome.local : outcome.remote, error: outcome.error as FerryError });
  for (const failure of failures) env.out.problem(failure.error.message.includes(failure.path) ? failure.error.message : `${failure.path}: ${failure.error.message}`);

  const seconds = (performance.now() - started) / 1000;
  const plannedBytes = toSend.reduce((sum, file) => sum + file.size, 0);
  const summary = options.dryRun
    ? `dry run: would send ${toSend.length} ${toSend.length === 1 ? 'file' : 'files'} (${formatBytes(plannedBytes)}), set ${timeOnly.length} ${timeOnly.length === 1 ? 'time' : 'times'}, skip ${skipped}, delete ${plan.remove.length}; nothing was changed`
    : `sent ${sent.length} ${sent.length === 1 ? 'file' : 'files'} (${formatBytes(bytes)}), set ${timeOnly.length} ${timeOnly.length === 1 ? 'time' : 'times'}, skipped ${skipped}, deleted ${deleted} in ${seconds.toFixed(2)} s` +
      (failures.length > 0 ? `; ${failures.length} failed` : '');
  env.out.line(summary);
  env.out.json({
    ok: failures.length === 0,
    dryRun: options.dryRun,
    direction: direction === 'up' ? 'upload' : 'download',
    actions,
    sent: { files: options.dryRun ? toSend.length : sent.length, bytes: options.dryRun ? plannedBytes : bytes },
    timesSet: timeOnly.length,
    skipped,
    deleted: options.dryRun ? plan.remove.length : deleted,
    failures: failures.map((failure) => ({ path: failure.path, error: errorJson(failure.error) })),
    seconds,
  });
  const settled = actions.length + skipped;
  return exitCodeForAll([...failures.map((failure) => failure.error), ...Array.from({ length: settled }, () => undefined)]);
}

/** A folder takes the source's time when it has another, or when anything inside it changed (which changes its time). */
function needsTime(path: string, mtime: number, targetMtime: number | undefined, changed: readonly string[]): boolean {
  if (targetMtime === undefined || !sameTime(mtime, targetMtime)) return true;
  return changed.some((inside) => path === '' || inside.startsWith(`${path}/`));
}

interface Paths {
  localPath(relative: string): string;
  remotePath(relative: string): string;
}

/** Removes what the source no longer has; only paths below the target's top ever reach here. */
async function removeGone(env: CommandEnv, direction: Direction, paths: string[], where: Paths, failures: { path: string; error: FerryError }[]): Promise<number> {
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
async function setTimes(env: CommandEnv, direction: Direction, files: SyncFile[], where: Paths, failures: { path: string; error: FerryError }[]): Promise<void> {
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
