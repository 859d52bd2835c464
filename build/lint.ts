/**
 * Runs the linters (ESLint, then knip) one after the other and records what each
 * said in dist/lint-results.json, for test/functional/lint.test.ts to judge. `npm
 * test` runs this before ava rather than letting the test run them: type-aware
 * ESLint keeps a core busy for a minute or more, and inside the suite it would run
 * beside the tests that measure latency under load. Never fails by itself: a
 * finding is the lint test's failure, counted with the others.
 */

import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface LintResult {
  code: number;
  output: string;
}

export const LINT_RESULTS = join(REPO_ROOT, 'dist', 'lint-results.json');
const LINTERS: Record<string, string[]> = {
  eslint: ['--max-warnings', '0', '.'],
  knip: ['--no-progress'],
};

export async function lint(tool: string): Promise<LintResult> {
  const bin = join(REPO_ROOT, 'node_modules', '.bin', tool);
  try {
    const { stdout, stderr } = await run(bin, LINTERS[tool] ?? [], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024, timeout: 600_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}${String(error)}` };
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results: Record<string, LintResult> = {};
  for (const tool of Object.keys(LINTERS)) results[tool] = await lint(tool);
  await writeFile(LINT_RESULTS, JSON.stringify(results, null, 2));
  for (const [tool, result] of Object.entries(results)) process.stderr.write(`${tool}: ${result.code === 0 ? 'clean' : 'findings (see the lint test)'}\n`);
}
