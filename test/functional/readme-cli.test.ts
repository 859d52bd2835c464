/**
 * The README's command-line section against the command line itself: every
 * command and option `ferry --help` lists is described, and the exit-code table
 * is the one the CLI uses.
 */

import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { REPO_ROOT, ferry } from '../helpers/cli.js';

async function cliSection(): Promise<string> {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## The `ferry` command line');
  const end = readme.indexOf('## The `ferry-server` command line');
  if (start < 0 || end < start) throw new Error('the README has no ferry command-line section');
  return readme.slice(start, end);
}

test('every command and option that ferry --help lists is in the README, with its aliases', async (t) => {
  const help = await ferry(['--help']);
  t.is(help.code, 0, help.stderr);
  const section = await cliSection();
  const commands = [...help.stdout.matchAll(/^ {2}([a-z|]+) /gm)].map((match) => match[1] as string).filter((name) => name !== 'help');
  t.true(commands.length >= 10, help.stdout);
  for (const command of commands) t.true(section.includes(`  ${command} `) || section.includes(`  ${command}\n`), `${command} is in the README`);
  const options = [...help.stdout.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((match) => match[1] as string).filter((option) => option !== '--help');
  t.true(options.length >= 8, help.stdout);
  for (const option of options) t.true(section.includes(option), `${option} is in the README`);
});

test("the README's exit-code table is the CLI's: every code, and no other", async (t) => {
  const section = await cliSection();
  const rows = [...section.matchAll(/^\| (\d+) \| /gm)].map((match) => Number(match[1]));
  t.deepEqual(rows, [...new Set(Object.values(ExitCode))].sort((a, b) => a - b));
});
