/**
 * The source passes the linters: ESLint with typescript-eslint (eslint.config.js)
 * and knip (knip.json: no unused files, exports or dependencies). They run here,
 * inside the suite, so a finding is one failed test with its report rather than a
 * test command that stops before the suite runs. `npm run lint` runs the same.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../helpers/cli.js';

const run = promisify(execFile);

async function lint(tool: string, args: string[]): Promise<{ code: number; output: string }> {
  const bin = join(REPO_ROOT, 'node_modules', '.bin', tool);
  try {
    const { stdout, stderr } = await run(bin, args, { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024, timeout: 240_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}${String(error)}` };
  }
}

test('ESLint finds nothing in src, test, bench, build and web', async (t) => {
  t.timeout(300_000);
  const result = await lint('eslint', ['--max-warnings', '0', '.']);
  t.is(result.code, 0, result.output);
});

test('knip finds no unused file, export or dependency', async (t) => {
  t.timeout(300_000);
  const result = await lint('knip', ['--no-progress']);
  t.is(result.code, 0, result.output);
});
