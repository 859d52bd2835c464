/**
 * `mv --no-clobber` is atomic: when two moves race onto one free name, exactly one
 * wins and the other is refused with EXISTS, and no file is ever lost. A check
 * for the name followed by a rename would let both through, the second silently
 * replacing the first.
 */

import test from 'ava';
import { readdir, readFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../../src/protocol/errors.js';
import { startServer } from '../helpers/server.js';

const TRIALS = 200;

for (const kind of ['file', 'folder'] as const) {
  test(`two ${kind} moves racing onto one name with no-clobber: in ${TRIALS} trials exactly one wins each time and nothing is lost`, async (t) => {
    t.timeout(120_000);
    const server = await startServer(t);
    const root = join(server.filesDir, 'race');
    await mkdir(root, { recursive: true });
    const content = (trial: number, side: string): string => `${side} of trial ${trial}`;
    for (let trial = 0; trial < TRIALS; trial++) {
      for (const side of ['a', 'b']) {
        if (kind === 'file') await writeFile(join(root, `${side}-${trial}`), content(trial, side));
        else {
          await mkdir(join(root, `${side}-${trial}`));
          await writeFile(join(root, `${side}-${trial}`, 'inner'), content(trial, side));
        }
      }
    }
    // Two connections, so the two moves of a trial really run at the same time on the server.
    const [first, second] = await Promise.all([server.connect(), server.connect()]);
    const outcome = async (move: Promise<void>): Promise<'won' | 'refused'> =>
      move.then(
        () => 'won' as const,
        (error: unknown) => {
          if (error instanceof FerryError && error.code === 'EXISTS') return 'refused' as const;
          throw error;
        },
      );
    let losses = 0;
    let bothWon = 0;
    let noneWon = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const results = await Promise.all([
        outcome(first!.rename(`race/a-${trial}`, `race/target-${trial}`, { noClobber: true })),
        outcome(second!.rename(`race/b-${trial}`, `race/target-${trial}`, { noClobber: true })),
      ]);
      const winners = results.filter((result) => result === 'won').length;
      if (winners === 2) bothWon++;
      if (winners === 0) noneWon++;
    }
    const names = new Set(await readdir(root));
    for (let trial = 0; trial < TRIALS; trial++) {
      const held = await Promise.all(
        ['a', 'b', 'target'].map(async (side) => {
          if (!names.has(`${side}-${trial}`)) return undefined;
          return readFile(join(root, `${side}-${trial}`, ...(kind === 'folder' ? ['inner'] : []))).then(String);
        }),
      );
      const kept = held.filter((text) => text !== undefined).sort();
      if (kept.join('\n') !== [content(trial, 'a'), content(trial, 'b')].sort().join('\n')) losses++;
    }
    t.log(`${TRIALS} trials: ${bothWon} where both moves answered OK, ${noneWon} where neither did, ${losses} with a lost ${kind}`);
    t.is(losses, 0, `${losses} trials lost a ${kind}`);
    t.is(bothWon, 0, `${bothWon} trials answered OK to both moves`);
    t.is(noneWon, 0, `${noneWon} trials refused both moves`);
    t.false(names.has('target') || [...names].some((name) => name.startsWith('.')), 'no placeholders are left behind');
    await Promise.all([first!.quit(), second!.quit()]);
  });
}
