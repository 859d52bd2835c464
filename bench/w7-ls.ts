/**
 * W7: `ferry ls` of a 10-entry folder as a whole process (start, connect, log in,
 * list, exit), against `node -e 0`, the floor of any Node command line. The two
 * alternate so they share the machine's mood.
 */

import { basename } from 'node:path';
import { isMain, runBench } from './lib/bench.js';
import type { Lab } from './lib/lab.js';
import { run } from './lib/processes.js';
import { figure, metText, ratio, spreadText, table, type Section, type Workload } from './lib/report.js';
import { pairedRatios, spread } from './lib/statistics.js';

const RATIO_BAR = 3;

async function timed(body: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await body();
  return performance.now() - started;
}

export const w7: Workload = {
  id: 'W7',
  title: '`ferry ls` of a 10-entry folder, whole process, against `node -e 0`',
  async run(lab: Lab): Promise<Section> {
    const folder = await lab.listedFolder();
    const ferry = await lab.ferry('single');
    await lab.stage(ferry, folder);
    const remote = `/stage/${basename(folder.path)}`;
    const names = [...folder.digests.keys()];
    const lsTimes: number[] = [];
    const nodeTimes: number[] = [];
    for (let i = 0; i < lab.options.sizes.lsRuns; i++) {
      nodeTimes.push(await timed(() => run(process.execPath, ['-e', '0'])));
      let listing = '';
      try {
        lsTimes.push(await timed(async () => (listing = (await ferry.ferry(['ls', remote], 60_000)).stdout)));
      } catch (error) {
        lab.fail(`W7 ferry ls run ${i + 1}: ${(error as Error).message.split('\n').join(' / ')}`);
        continue;
      }
      const missing = names.filter((name) => !listing.includes(name));
      const lines = listing.trim().split('\n').length;
      if (missing.length > 0 || lines !== names.length) lab.fail(`W7: ferry ls printed ${lines} lines, missing ${missing.join(', ') || 'nothing'}`);
    }
    const ls = spread(lsTimes);
    const node = spread(nodeTimes);
    const ratios = pairedRatios(lsTimes, nodeTimes);
    const met = ratios ? ratios.median <= RATIO_BAR : undefined;
    lab.log(`W7: ferry ls ${figure(ls.median)} ms, node -e 0 ${figure(node.median)} ms, ratio ${ratio(ratios?.median)}`);
    const rows = [
      [`\`ferry ls\` (${names.length} entries)`, figure(ls.median), figure(ls.min), figure(ls.max)],
      ['`node -e 0`', figure(node.median), figure(node.min), figure(node.max)],
    ];
    const markdown = [
      `## W7: ${this.title}`,
      '',
      `Wall time in ms, lower is better; ${lsTimes.length} runs each, alternating; FERRY_WORKERS=0.`,
      '',
      table(['command', 'median ms', 'min', 'max'], rows, ['l', 'r', 'r', 'r']),
      '',
      `Ratio ferry ls / node -e 0 over paired runs: ${spreadText(ratios, ratio)}; bar <= ${RATIO_BAR}x: ${metText(met)}.`,
      '',
    ].join('\n');
    return { id: 'W7', markdown, bars: [{ workload: 'W7', bar: `<= ${RATIO_BAR}x \`node -e 0\``, measured: ratio(ratios?.median), met }] };
  },
};

if (isMain(import.meta.url)) await runBench([w7], process.argv.slice(2));
