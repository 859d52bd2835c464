import test from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { nearestCommand, quoteForShell, splitWords } from '../../src/cli/shell-words.js';
import { FerryError } from '../../src/protocol/errors.js';
import { holds } from './property.js';

test('words are split on runs of whitespace, which is otherwise ignored', (t) => {
  t.deepEqual(splitWords('put a.txt  b.txt'), ['put', 'a.txt', 'b.txt']);
  t.deepEqual(splitWords('  ls\t/docs \n'), ['ls', '/docs']);
  t.deepEqual(splitWords(''), []);
  t.deepEqual(splitWords(' \t '), []);
});

test('double and single quotes keep spaces inside one word and are removed', (t) => {
  t.deepEqual(splitWords('put "Trip photos/day 1.jpg" -d /in'), ['put', 'Trip photos/day 1.jpg', '-d', '/in']);
  t.deepEqual(splitWords("get 'my  file.txt'"), ['get', 'my  file.txt']);
});

test('each kind of quote is literal inside the other', (t) => {
  t.deepEqual(splitWords(`"it's here"`), ["it's here"]);
  t.deepEqual(splitWords(`'say "hi"'`), ['say "hi"']);
});

test('quoted and unquoted parts next to each other make one word', (t) => {
  t.deepEqual(splitWords(`a"b c"d`), ['ab cd']);
  t.deepEqual(splitWords(`"a"'b'c`), ['abc']);
  t.deepEqual(splitWords(`x "" y`), ['x', '', 'y']);
  t.deepEqual(splitWords(`''`), ['']);
});

test('backslashes are kept as they are, so Windows paths need no escaping', (t) => {
  t.deepEqual(splitWords('put C:\\Users\\me\\notes.txt'), ['put', 'C:\\Users\\me\\notes.txt']);
  t.deepEqual(splitWords('"C:\\Program Files\\x"'), ['C:\\Program Files\\x']);
});

test('an unclosed quote is refused with USAGE', (t) => {
  for (const line of ['put "a b', "put 'a b", '"', "'", `a "b" 'c`, `"it's`]) {
    const error = t.throws(() => splitWords(line), { instanceOf: FerryError }, line);
    t.is(error?.code, 'USAGE', line);
  }
});

const noQuotes = fc.string({ unit: 'binary', maxLength: 12 }).filter((w) => !/["']/.test(w));

test('any words without quote characters, each wrapped in double quotes and joined by spaces, split back to the same words', (t) => {
  holds(
    t,
    fc.property(fc.array(noQuotes, { maxLength: 8 }), (words) => {
      assert.deepEqual(splitWords(words.map((w) => `"${w}"`).join(' ')), words);
      return true;
    }),
    { numRuns: 1000 },
  );
});

test('any words without quotes or whitespace, joined by any runs of whitespace, split back to the same words', (t) => {
  const bare = noQuotes.filter((w) => w !== '' && !/\s/.test(w));
  const gap = fc.string({ unit: fc.constantFrom(' ', '\t', '\n', '\r', '\u00a0', '\u3000'), minLength: 1, maxLength: 3 });
  holds(
    t,
    fc.property(fc.array(fc.tuple(bare, gap), { maxLength: 8 }), gap, (pairs, lead) => {
      const line = lead + pairs.map(([word, space]) => word + space).join('');
      assert.deepEqual(splitWords(line), pairs.map(([word]) => word));
      return true;
    }),
  );
});

test('a completed name is quoted so that the shell reads it back as the same one word', (t) => {
  t.is(quoteForShell('plain.txt'), 'plain.txt');
  t.is(quoteForShell('first day.txt'), '"first day.txt"');
  t.is(quoteForShell('holiday photos/'), '"holiday photos/', 'a folder stays open for the next Tab');
  t.is(quoteForShell('say "hi".txt'), `'say "hi".txt'`);
  // Names with both kinds of quote cannot be written with either alone; those are not completed as one word.
  const name = fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }).filter((n) => !n.endsWith('/') && !(n.includes('"') && n.includes("'")));
  holds(
    t,
    fc.property(name, (n) => {
      assert.deepEqual(splitWords(quoteForShell(n)), [n]);
      return true;
    }),
    { numRuns: 1000 },
  );
});

test('a mistyped command is matched to the nearest one, and a word far from every command to none', (t) => {
  t.is(nearestCommand('uplaod'), 'upload');
  t.is(nearestCommand('lss'), 'ls');
  t.is(nearestCommand('dowload'), 'download');
  t.is(nearestCommand('mkdri'), 'mkdir');
  t.is(nearestCommand('frobnicate'), undefined);
  t.is(nearestCommand('x'), undefined);
});
