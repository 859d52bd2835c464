/**
 * The two sides of a sync as trees (see sync-plan.ts): a local folder walked with
 * its excludes, a remote folder from one recursive listing filtered by the same
 * command-line patterns; and the digest comparisons the plan leaves open.
 */

import { FerryError, ferryError, systemErrorCode } from '../protocol/errors.js';
import { joinRemote, parseRemotePath } from '../protocol/paths.js';
import type { FerryClient } from './client.js';
import type { Excludes } from './excludes.js';
import { inWindow, walkLocalTree, type LocalTree } from './local-tree.js';
import { localSha256 } from './same-content.js';
import { PART_SUFFIX } from './part-file.js';
import type { SyncFile, Tree, TreeEntry } from './sync-plan.js';

/** Local files hashed at once while comparing digests. */
const HASH_WINDOW = 4;

export interface ScannedTree {
  tree: Tree;
  /** Whether the top folder exists. */
  exists: boolean;
  notices: string[];
  failures: { path: string; error: FerryError }[];
  /** The top folder's own time (0 when unknown). */
  mtime: number;
  /** Whether this side's rules (its `.ferryignore` files too) leave `path` out: the other side's copy is then left alone. */
  excluded(path: string, type: TreeEntry['type']): boolean;
}

const NOT_THERE = new Set(['NOT_FOUND']);

/**
 * A local folder as a tree; a missing one is an empty tree that does not exist.
 * `.ferryignore` files are read where the folder is the source: the sending side's
 * rules decide, so both sides of a sync are judged alike.
 */
export async function scanLocal(dir: string, excludes: Excludes, options: { followSymlinks: boolean; ignoreFiles: boolean }): Promise<ScannedTree> {
  let walked: LocalTree;
  try {
    walked = await walkLocalTree(dir, { excludes, ...options });
  } catch (error) {
    if (error instanceof FerryError) throw ferryError(error.code, `${error.message}; sync mirrors folders`, error);
    if (systemErrorCode(error) === 'ENOENT') return { ...emptyTree(excludes), exists: false };
    throw ferryError('LOCAL_IO', `cannot read ${dir}: ${(error as Error).message}`, error);
  }
  const tree = new Map<string, TreeEntry>();
  let mtime = 0;
  for (const entry of walked.entries) {
    if (entry.relative === '') mtime = entry.mtime;
    // An interrupted download's part file is neither sent nor deleted: the next download continues it.
    else if (!(entry.type === 'file' && isPartFile(entry.relative))) tree.set(entry.relative, { type: entry.type, size: entry.size, mtime: entry.mtime });
  }
  // A path is judged by the rules of its nearest folder that was walked.
  const excluded = (path: string, type: TreeEntry['type']): boolean => {
    let folder = path;
    do {
      folder = folder.includes('/') ? folder.slice(0, folder.lastIndexOf('/')) : '';
      const rules = walked.rules.get(folder);
      if (rules) return excludedInListing(rules, path, type, folder);
    } while (folder !== '');
    return excludedInListing(excludes, path, type, '');
  };
  return { tree, exists: true, notices: walked.notices, failures: walked.failures.map(({ relative, error }) => ({ path: relative, error })), mtime, excluded };
}

function emptyTree(excludes: Excludes): Omit<ScannedTree, 'exists'> {
  return { tree: new Map(), notices: [], failures: [], mtime: 0, excluded: (path, type) => excludedInListing(excludes, path, type, '') };
}

/** Whether `path` or a folder above it, below `from`, is excluded (a listing is flat, unlike a walk). */
function excludedInListing(excludes: Excludes, path: string, type: TreeEntry['type'], from = ''): boolean {
  const segments = path.split('/');
  const first = from === '' ? 1 : from.split('/').length + 1;
  for (let depth = first; depth < segments.length; depth++) if (excludes.excludes(segments.slice(0, depth).join('/'), true)) return true;
  return excludes.excludes(path, type === 'dir');
}

function isPartFile(relative: string): boolean {
  const name = relative.slice(relative.lastIndexOf('/') + 1);
  return name.startsWith('.') && name.endsWith(PART_SUFFIX);
}

/** A relative path of plain names: no '.', '..' or empty segments, nothing a remote path may not hold. */
function isPlainPath(name: string): boolean {
  try {
    return name !== '' && parseRemotePath(name).join('/') === name;
  } catch {
    return false;
  }
}

/** A remote folder as a tree; a missing one is an empty tree that does not exist. */
export async function scanRemote(client: FerryClient, dir: string, excludes: Excludes): Promise<ScannedTree> {
  let top;
  try {
    top = await client.stat(dir);
  } catch (error) {
    if (error instanceof FerryError && NOT_THERE.has(error.code)) return { ...emptyTree(excludes), exists: false };
    throw error;
  }
  if (top.type !== 'dir') throw ferryError('NOT_A_DIRECTORY', `${dir} is a file on the server, not a folder; sync mirrors folders`);
  const tree = new Map<string, TreeEntry>();
  const failures: ScannedTree['failures'] = [];
  for (const entry of await client.list(dir, { recursive: true })) {
    // Names become local paths and delete targets: only plain relative paths are taken from a server.
    if (!isPlainPath(entry.name)) {
      failures.push({ path: JSON.stringify(entry.name), error: ferryError('BAD_PATH', `the server listed ${JSON.stringify(entry.name)} in ${dir}, which is not a plain path below it; it was left out`) });
      continue;
    }
    if (!excludedInListing(excludes, entry.name, entry.type)) tree.set(entry.name, { type: entry.type, size: entry.size, mtime: entry.mtime });
  }
  return { tree, exists: true, notices: [], failures, mtime: top.mtime, excluded: (path, type) => excludedInListing(excludes, path, type) };
}

export type Comparison = 'send' | 'time' | 'skip';

/**
 * Settles the files the plan could not decide by their SHA-256 digests: the
 * server's from `stat` (it records them), the local one read here.
 */
export async function compareDigests(
  client: FerryClient,
  files: readonly (SyncFile & { sameTime: boolean })[],
  where: { localPath(relative: string): string; remotePath(relative: string): string },
): Promise<Comparison[]> {
  return inWindow(files, HASH_WINDOW, async (file) => {
    const [remote, local] = await Promise.all([client.stat(where.remotePath(file.path)), localSha256(where.localPath(file.path))]);
    if (remote.sha256 === undefined || remote.sha256 !== local) return 'send';
    return file.sameTime ? 'skip' : 'time';
  });
}

export function remoteUnder(dir: string): (relative: string) => string {
  return (relative) => (relative === '' ? dir : joinRemote(dir, relative));
}
