/**
 * What "the transfer is right" means here: the SHA-256 of every file at the
 * destination equals the source's, and the destination holds exactly the expected
 * files (no leftover temporary or partial file beside them).
 */

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), hash);
  return hash.digest('hex');
}

/** Every regular file under `root` (or `root` itself when it is a file), by path relative to `root`'s parent view. */
async function filesUnder(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else found.push(path);
    }
  };
  await walk(root);
  return found.sort();
}

/** Digests of a file, or of every file in a folder keyed by relative path. */
export async function digestTree(root: string): Promise<Map<string, string>> {
  const digests = new Map<string, string>();
  if ((await stat(root)).isFile()) {
    digests.set('.', await sha256File(root));
    return digests;
  }
  for (const file of await filesUnder(root)) digests.set(relative(root, file), await sha256File(file));
  return digests;
}

/**
 * Checks that `folder` holds exactly the items named in `expected` (each a file or a
 * folder name mapped to its digests), and that each is intact. Returns what is wrong,
 * or undefined when all is right.
 */
export async function checkLanded(folder: string, expected: Map<string, Map<string, string>>): Promise<string | undefined> {
  let names: string[];
  try {
    names = (await readdir(folder)).sort();
  } catch (error) {
    return `${folder} cannot be read: ${(error as Error).message}`;
  }
  const wanted = [...expected.keys()].sort();
  if (names.join('\n') !== wanted.join('\n')) return `${folder} holds [${names.join(', ')}], expected [${wanted.join(', ')}]`;
  for (const [name, digests] of expected) {
    const actual = await digestTree(join(folder, name));
    for (const [path, digest] of digests) {
      const got = actual.get(path);
      if (got === undefined) return `${join(folder, name, path)} is missing`;
      if (got !== digest) return `${join(folder, name, path)} has SHA-256 ${got.slice(0, 16)}..., expected ${digest.slice(0, 16)}...`;
    }
    if (actual.size !== digests.size) {
      const extra = [...actual.keys()].filter((path) => !digests.has(path));
      return `${join(folder, name)} holds unexpected files: ${extra.slice(0, 5).join(', ')}`;
    }
  }
  return undefined;
}
