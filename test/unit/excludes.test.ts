import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Excludes, IGNORE_FILE } from '../../src/client/excludes.js';
import { tempDir } from '../helpers/files.js';

test('--exclude patterns follow gitignore rules from the top of the tree', (t) => {
  const excludes = Excludes.fromPatterns(['*.log', '/build', 'cache/']);
  t.true(excludes.excludes('debug.log', false));
  t.true(excludes.excludes('deep/in/there.log', false));
  t.true(excludes.excludes('build', true));
  t.false(excludes.excludes('src/build', true), 'a leading slash anchors at the top');
  t.true(excludes.excludes('src/cache', true));
  t.false(excludes.excludes('cache', false), 'a trailing slash matches folders only');
  t.false(excludes.excludes('notes.txt', false));
});

test('a .ferryignore applies to its own folder and below, negations included', async (t) => {
  const top = await tempDir(t);
  await mkdir(join(top, 'sub'));
  await writeFile(join(top, IGNORE_FILE), 'node_modules/\n*.tmp\n');
  await writeFile(join(top, 'sub', IGNORE_FILE), '!keep.tmp\nsecret.txt\n');
  const atTop = await Excludes.fromPatterns([]).within(top, '');
  const inSub = await atTop.within(join(top, 'sub'), 'sub');
  t.true(atTop.excludes('node_modules', true));
  t.true(atTop.excludes('a.tmp', false));
  t.false(atTop.excludes('secret.txt', false), 'the rules of sub/ do not reach its parent');
  t.true(inSub.excludes('sub/secret.txt', false));
  t.true(inSub.excludes('sub/other.tmp', false));
  t.false(inSub.excludes('sub/keep.tmp', false), 'a deeper !pattern brings a file back');
});
