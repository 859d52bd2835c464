/** What a home holds, measured for the quota book when it first needs a home's usage. */

import type { Usage } from '../quota.js';
import type { RemotePath } from '../storage.js';
import { MAX_TREE_DEPTH } from '../tree-limits.js';
import type { Folder, Jail } from './jail/index.js';

/**
 * Adds the bytes of the files and the count of the entries (files and folders)
 * below the open `folder` to `usage`, one open folder per level, through the jail:
 * a folder swapped for a link while the walk goes on adds nothing from outside.
 * What no request could use is not counted: links, special files, protected and
 * unnameable names, levels past the tree limit.
 */
export async function addTreeUsage(jail: Jail, folder: Folder, path: RemotePath, usage: Usage): Promise<void> {
  const subfolders: string[] = [];
  for await (const { name, stats } of jail.entries(folder, path)) {
    usage.entries++;
    if (stats.isDirectory()) subfolders.push(name);
    else usage.bytes += stats.size;
  }
  if (path.length >= MAX_TREE_DEPTH) return;
  for (const name of subfolders) {
    const child = await jail.child(folder, name, [...path, name]);
    if (!child) continue; // Removed or replaced meanwhile: it holds nothing any more.
    try {
      await addTreeUsage(jail, child, [...path, name], usage);
    } finally {
      await child.close();
    }
  }
}
