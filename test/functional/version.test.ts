import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, ferry, ferryServer } from '../helpers/cli.js';

async function packageVersion(): Promise<string> {
  const manifest = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

test('ferry --version prints the version in package.json and exits 0', async (t) => {
  const result = await ferry(['--version']);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, `${await packageVersion()}\n`);
});

test('ferry-server --version prints the version in package.json and exits 0 without starting anything', async (t) => {
  const result = await ferryServer(['--version']);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, `${await packageVersion()}\n`);
});
