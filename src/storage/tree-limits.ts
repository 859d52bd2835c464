/**
 * How deep and long a tree below a home may grow through Ferry. A folder the
 * server builds must stay one it (and the operator's own tools) can still list,
 * move and delete: every path to it has to fit the system's path limit, and the
 * walks that list or delete a tree hold one open folder per level. Both backends
 * refuse the same paths, so a tree moves between them unchanged.
 */

import { ferryError } from '../protocol/errors.js';
import { formatRemotePath } from '../protocol/paths.js';

/** Levels of folders below a home that mkdir, upload and rename may build, and recursive walks follow. */
export const MAX_TREE_DEPTH = 256;

/** The longest path string Linux takes (PATH_MAX less its NUL): a local file's full path on disk stays within it. */
export const MAX_DISK_PATH_BYTES = 4095;

/** How far a tree reaches below its top: levels, and the bytes its longest path adds. */
export interface TreeExtent {
  depth: number;
  bytes: number;
}

export const NO_EXTENT: TreeExtent = { depth: 0, bytes: 0 };

/**
 * Refuses to build `path` (plus a tree of `below` under it, when a folder moves
 * there) when its depth or its full spelling in the store (`rootBytes` for the
 * home's own location, `maxBytes` for the store's limit) would pass the limits.
 */
export function refuseBeyondLimits(path: readonly string[], below: TreeExtent, rootBytes: number, maxBytes: number): void {
  const depth = path.length + below.depth;
  if (depth > MAX_TREE_DEPTH) {
    throw ferryError(
      'BAD_PATH',
      `${formatRemotePath(path)} would make a tree ${depth} levels deep; the server keeps trees within ${MAX_TREE_DEPTH} levels so that they can still be listed and deleted. Choose a shallower place`,
    );
  }
  const bytes = rootBytes + Buffer.byteLength(formatRemotePath(path), 'utf8') + below.bytes;
  if (bytes > maxBytes) {
    throw ferryError(
      'BAD_PATH',
      `${formatRemotePath(path)} would make a path of ${bytes} bytes in the server's store, past its limit of ${maxBytes}; choose shorter names or a shallower place`,
    );
  }
}

/** The error of a recursive walk that met a tree deeper than the limits: it says where it stopped. */
export function stoppedTooDeep(path: readonly string[], what: string): Error {
  return ferryError(
    'BAD_PATH',
    `${what} stopped at ${formatRemotePath(path)}: the tree below it goes deeper than ${MAX_TREE_DEPTH} levels (or longer than the server's path limit), which Ferry does not build; ask the server's admin to move or remove it`,
  );
}
