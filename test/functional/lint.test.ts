/**
 * The source passes the linters: ESLint with typescript-eslint (eslint.config.js)
 * and knip (knip.json: no unused files, exports or dependencies). A finding is one
 * failed test with the linter's report, counted with the rest of the suite.
 *
 * Under `npm test` the linters have just run, alone, before ava (build/lint.ts):
 * this test reads what they said. Run any other way (`npx ava`), it runs them.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { lint, LINT_RESULTS, type LintResult } from '../../build/lint.js';

async function resultOf(tool: string): Promise<LintResult> {
  if (process.env.npm_lifecycle_event === 'test') {
    const recorded = JSON.parse(await readFile(LINT_RESULTS, 'utf8')) as Record<string, LintResult>;
    const result = recorded[tool];
    if (result) return result;
  }
  return lint(tool);
}

test('ESLint finds nothing in src, test, bench, build and web', async (t) => {
  t.timeout(600_000);
  const result = await resultOf('eslint');
  t.is(result.code, 0, result.output);
});

test('knip finds no unused file, export or dependency', async (t) => {
  t.timeout(600_000);
  const result = await resultOf('knip');
  t.is(result.code, 0, result.output);
});
