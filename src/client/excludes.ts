/**
 * What a folder transfer leaves out: `--exclude` patterns and `.ferryignore`
 * files, both with gitignore's rules (the `ignore` package). The patterns of
 * `--exclude` apply from the top of the tree being sent; a `.ferryignore` applies
 * to the folder it lies in and everything below, as a `.gitignore` does. Paths
 * are asked about relative to the top, `/`-separated, whatever the platform.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { ferryError, systemErrorCode } from '../protocol/errors.js';

export const IGNORE_FILE = '.ferryignore';

interface Rules {
  /** The folder the rules were written in, relative to the top ('' for the top). */
  base: string;
  rules: Ignore;
}

export class Excludes {
  private constructor(
    /** The command line's patterns: they have the last word, as the user typed them for this run. */
    private readonly commandLine: Ignore | undefined,
    private readonly layers: readonly Rules[],
  ) {}

  /** Only the command line's patterns (they also serve a remote tree, which has no ignore files). */
  static fromPatterns(patterns: readonly string[]): Excludes {
    return new Excludes(patterns.length > 0 ? ignore().add([...patterns]) : undefined, []);
  }

  /**
   * These rules plus the `.ferryignore` of local folder `dir` (at `relative` below
   * the top), if it has one; the same rules when it has none.
   */
  async within(dir: string, relative: string): Promise<Excludes> {
    const file = join(dir, IGNORE_FILE);
    const text = await readFile(file, 'utf8').catch((error: unknown) => {
      const code = systemErrorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw ferryError('LOCAL_IO', `cannot read ${file}: ${(error as Error).message}; fix its permissions or remove it`, error);
    });
    if (text === undefined) return this;
    return new Excludes(this.commandLine, [...this.layers, { base: relative, rules: ignore().add(text) }]);
  }

  /**
   * Whether the entry at `relative` (below the top, `/`-separated) is left out. As
   * in git, the deepest rules that have a say win, so a `!pattern` in a folder's
   * file brings back what a file above it left out.
   */
  excludes(relative: string, isFolder: boolean): boolean {
    if (this.commandLine?.ignores(isFolder ? `${relative}/` : relative)) return true;
    for (const { base, rules } of [...this.layers].reverse()) {
      const below = base === '' ? relative : relative.startsWith(`${base}/`) ? relative.slice(base.length + 1) : undefined;
      if (below === undefined || below === '') continue;
      const verdict = rules.test(isFolder ? `${below}/` : below);
      if (verdict.ignored) return true;
      if (verdict.unignored) return false;
    }
    return false;
  }
}

export const NO_EXCLUDES = Excludes.fromPatterns([]);
