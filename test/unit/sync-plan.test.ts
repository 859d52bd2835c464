import test from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { planSync, sameTime, type Tree, type TreeEntry } from '../../src/client/sync-plan.js';
import { holds } from './property.js';

const T = Date.parse('2024-01-01T00:00:00.000Z');
const file = (size: number, mtime = T): TreeEntry => ({ type: 'file', size, mtime });
const dir = (mtime = T): TreeEntry => ({ type: 'dir', size: 0, mtime });

test('a file of another size is sent; same size and time is skipped; same size and another time goes to the digests', (t) => {
  const source: Tree = new Map([
    ['new.txt', file(1)],
    ['size.txt', file(2)],
    ['same.txt', file(3)],
    ['time.txt', file(4, T + 5000)],
  ]);
  const target: Tree = new Map([
    ['size.txt', file(9)],
    ['same.txt', file(3, T + 400)],
    ['time.txt', file(4)],
  ]);
  const plan = planSync(source, target);
  t.deepEqual(plan.send.map((f) => `${f.path}:${f.reason}`), ['new.txt:new', 'size.txt:size differs']);
  t.deepEqual(plan.skip.map((f) => f.path), ['same.txt']);
  t.deepEqual(plan.compare.map((f) => `${f.path}:${f.sameTime}`), ['time.txt:false']);
  t.deepEqual(plan.remove, []);
});

test('--checksum sends even same-size, same-time files to the digest comparison', (t) => {
  const tree: Tree = new Map([['a', file(3)]]);
  const plan = planSync(tree, tree, { checksum: true });
  t.deepEqual(plan.compare.map((f) => `${f.path}:${f.sameTime}`), ['a:true']);
  t.deepEqual(plan.skip, []);
});

test('--delete removes only the topmost of what the source lacks, and replaces an entry of another type', (t) => {
  const source: Tree = new Map([
    ['keep', dir()],
    ['keep/a', file(1)],
    ['x', dir()],
    ['x/inner', file(1)],
  ]);
  const target: Tree = new Map([
    ['keep', dir()],
    ['keep/a', file(1)],
    ['keep/old', file(1)],
    ['gone', dir()],
    ['gone/deep', dir()],
    ['gone/deep/f', file(1)],
    ['x', file(7)],
  ]);
  const plan = planSync(source, target, { delete: true });
  t.deepEqual(plan.remove, [
    { path: 'gone', type: 'dir' },
    { path: 'keep/old', type: 'file' },
    { path: 'x', type: 'file' },
  ]);
  t.deepEqual(plan.folders, ['x']);
  t.deepEqual(plan.send.map((f) => f.path), ['x/inner']);
  const without = planSync(source, target);
  t.deepEqual(without.remove, []);
  t.deepEqual(without.send, [], 'a type conflict and what lies below it wait for --delete');
});

test('times in the same second are equal, a second apart are not', (t) => {
  t.true(sameTime(T, T + 999));
  t.false(sameTime(T + 999, T + 1000));
});

test('every source file is sent, compared or skipped exactly once, and nothing outside the target is removed', (t) => {
  const name = fc.constantFrom('a', 'b', 'c');
  const path = fc.array(name, { minLength: 1, maxLength: 3 }).map((segments) => segments.join('/'));
  const entry = fc.oneof(
    fc.record({ type: fc.constant<'file'>('file'), size: fc.nat(3), mtime: fc.constantFrom(T, T + 500, T + 3000) }),
    fc.constant(dir()),
  );
  // A consistent tree: every parent of an entry is a folder.
  const tree = fc.dictionary(path, entry).map((record) => {
    const map = new Map<string, TreeEntry>();
    for (const [key, value] of Object.entries(record)) {
      const segments = key.split('/');
      if (segments.slice(0, -1).some((_, index) => record[segments.slice(0, index + 1).join('/')]?.type === 'file')) continue;
      for (let depth = 1; depth < segments.length; depth++) map.set(segments.slice(0, depth).join('/'), dir());
      map.set(key, value);
    }
    return map as Tree;
  });
  holds(
    t,
    fc.property(tree, tree, fc.boolean(), fc.boolean(), (source, target, del, checksum) => {
      const plan = planSync(source, target, { delete: del, checksum });
      const decided = [...plan.send, ...plan.compare, ...plan.skip].map((f) => f.path).sort();
      assert.equal(new Set(decided).size, decided.length);
      for (const path of decided) assert.equal(source.get(path)?.type, 'file');
      for (const { path } of plan.remove) assert.ok(target.has(path) && path !== '');
      if (!del) assert.deepEqual(plan.remove, []);
      if (del) {
        const files = [...source].filter(([, value]) => value.type === 'file').map(([key]) => key).sort();
        assert.deepEqual(decided, files);
      }
      return true;
    }),
  );
});
