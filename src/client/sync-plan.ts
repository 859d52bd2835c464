/**
 * What a one-way sync does, decided from the two trees alone. Pure: no I/O, so
 * every rule is tested without a server.
 *
 * The comparison of a file present on both sides:
 *   - sizes differ                          -> send
 *   - sizes equal, times equal (to the second) -> skip (with --checksum: compare digests)
 *   - sizes equal, times differ             -> compare SHA-256 digests: equal means only
 *                                               the target's time is set; different means send
 * Time alone is never trusted to say that files differ, so file systems with coarse
 * times (FAT keeps 2 seconds) and stores that keep no times cost digest reads, never
 * needless sends. Paths are relative to the two tops, '/'-separated.
 */

export interface TreeEntry {
  type: 'file' | 'dir';
  size: number;
  /** Modification time, ms since the epoch (0 when the side keeps none). */
  mtime: number;
}

/** A tree by relative path ('' is never a key: the tops themselves are not compared). */
export type Tree = ReadonlyMap<string, TreeEntry>;

export type SendReason = 'new' | 'size differs' | 'type differs';

export interface SyncFile {
  path: string;
  size: number;
  mtime: number;
}

export interface SyncPlan {
  /** Folders the target lacks, parents first. */
  folders: string[];
  /** Files to send, and why. */
  send: (SyncFile & { reason: SendReason })[];
  /** Files of the same size whose digests decide: send, set the time only, or skip. */
  compare: (SyncFile & { sameTime: boolean })[];
  /** Files left alone: same size and time. */
  skip: SyncFile[];
  /** What the target has and the source does not, topmost only (a folder takes its contents along). */
  remove: { path: string; type: 'file' | 'dir' }[];
  /** Source folders whose time the target should take once their contents are in place, parents first. */
  folderTimes: { path: string; mtime: number }[];
}

export interface SyncOptions {
  /** Compare digests even when size and time match. */
  checksum?: boolean;
  /** Remove from the target what the source does not have. */
  delete?: boolean;
}

/** Times within the same second count as equal: many file systems and stores keep no more. */
export function sameTime(a: number, b: number): boolean {
  return Math.floor(a / 1000) === Math.floor(b / 1000);
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

function sorted(tree: Tree): string[] {
  // Code-unit order puts a folder before everything inside it.
  return [...tree.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export function planSync(source: Tree, target: Tree, options: SyncOptions = {}): SyncPlan {
  const plan: SyncPlan = { folders: [], send: [], compare: [], skip: [], remove: [], folderTimes: [] };
  // Target entries of another type than the source's are replaced: removed first (with --delete only).
  const replaced = new Set<string>();
  for (const path of sorted(source)) {
    const from = source.get(path) as TreeEntry;
    const to = target.get(path);
    if (to !== undefined && to.type !== from.type) replaced.add(path);
  }
  if (options.delete) {
    const gone = (path: string): boolean => !source.has(path) || replaced.has(path);
    for (const path of sorted(target)) {
      if (!gone(path)) continue;
      // Inside a folder that goes anyway: nothing to do of its own.
      let parent = parentOf(path);
      let covered = false;
      while (parent !== '') {
        if (gone(parent)) covered = true;
        parent = parentOf(parent);
      }
      if (!covered) plan.remove.push({ path, type: (target.get(path) as TreeEntry).type });
    }
  }
  const blocked = (path: string): boolean => {
    for (let at = path; at !== ''; at = parentOf(at)) if (replaced.has(at)) return true;
    return false;
  };
  for (const path of sorted(source)) {
    // A type conflict needs --delete to be replaced; without it, it and its contents stay as they are.
    if (!options.delete && blocked(path)) continue;
    const from = source.get(path) as TreeEntry;
    const to = replaced.has(path) ? undefined : target.get(path);
    if (from.type === 'dir') {
      if (to === undefined) plan.folders.push(path);
      plan.folderTimes.push({ path, mtime: from.mtime });
      continue;
    }
    const file = { path, size: from.size, mtime: from.mtime };
    if (to === undefined) plan.send.push({ ...file, reason: replaced.has(path) ? 'type differs' : 'new' });
    else if (to.size !== from.size) plan.send.push({ ...file, reason: 'size differs' });
    else if (!sameTime(to.mtime, from.mtime)) plan.compare.push({ ...file, sameTime: false });
    else if (options.checksum) plan.compare.push({ ...file, sameTime: true });
    else plan.skip.push(file);
  }
  return plan;
}

/** Paths whose type differs on the two sides, which a sync without --delete cannot replace. */
export function typeConflicts(source: Tree, target: Tree): string[] {
  return sorted(source).filter((path) => {
    const to = target.get(path);
    return to !== undefined && to.type !== (source.get(path) as TreeEntry).type;
  });
}
