import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ENTRY = new URL('../../src/storage/index.js', import.meta.url).href;

// A resolve hook that names every AWS SDK module a process asks for, on stderr
// (hooks run on a thread of their own: a direct write to fd 2 is seen in order).
const HOOKS = `
import { writeSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@aws-sdk/')) writeSync(2, 'loaded ' + specifier + '\\n');
  return next(specifier, context);
}`;

/** What a process that imports the storage entry point (and then, with `s3`, loads the S3 backend) asks for. */
async function modulesAsked(loadS3: boolean): Promise<string> {
  const script = `
    import { register } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOKS)}));
    const storage = await import(${JSON.stringify(ENTRY)});
    if (${loadS3}) await storage.loadS3Storage();
    process.stderr.write('done\\n');`;
  const { stderr } = await run(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], { timeout: 60_000 });
  return stderr;
}

test('the storage entry point leaves the AWS SDK unloaded until the S3 backend is asked for', async (t) => {
  const [local, s3] = await Promise.all([modulesAsked(false), modulesAsked(true)]);
  t.true(local.includes('done'));
  t.false(local.includes('@aws-sdk/'), local);
  // The hook does see the SDK once the backend is loaded: the first check is not vacuous.
  t.true(s3.includes('loaded @aws-sdk/client-s3'), s3);
});
