/**
 * W7v, W7's companion: the start-up cost alone. `ferry --version` of the client
 * package as a user installs it (`npm install -g` of the packed tarball, here into a
 * prefix in the lab, shared with W7), a whole process, against `node -e 0`, the floor of any Node
 * command line. The two alternate so they share the machine's mood.
 */

import { VERSION } from '../src/version.js';
import { isMain, runBench } from './lib/bench.js';
import type { Lab } from './lib/lab.js';
import { run } from './lib/processes.js';
import { installedPath } from './peers/ferry.js';
import { figure, metText, ratio, spreadText, table, type Section, type Workload } from './lib/report.js';
import { pairedRatios, spread } from './lib/statistics.js';

const RATIO_BAR = 2.5;

async function timed(body: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await body();
  return performance.now() - started;
}

export const w7version: Workload = {
  id: 'W7v',
  title: '`ferry --version` of the installed client package, whole process, against `node -e 0`',
  async run(lab: Lab): Promise<Section> {
    const client = await lab.installedClient();
    const env = { ...process.env, PATH: installedPath(client) };
    const versionTimes: number[] = [];
    const nodeTimes: number[] = [];
    for (let i = 0; i < lab.options.sizes.lsRuns; i++) {
      nodeTimes.push(await timed(() => run(process.execPath, ['-e', '0'])));
      let printed = '';
      versionTimes.push(await timed(async () => (printed = (await run(client.command, ['--version'], { env, cwd: client.dir })).stdout)));
      if (printed.trim() !== VERSION) lab.fail(`W7v: ferry --version printed "${printed.trim()}", not ${VERSION}`);
    }
    const version = spread(versionTimes);
    const node = spread(nodeTimes);
    const ratios = pairedRatios(versionTimes, nodeTimes);
    const met = ratios ? ratios.median <= RATIO_BAR : undefined;
    lab.log(`W7v: ferry --version ${figure(version.median)} ms, node -e 0 ${figure(node.median)} ms, ratio ${ratio(ratios?.median)}`);
    const rows = [
      ['`ferry --version` (installed package)', figure(version.median), figure(version.min), figure(version.max)],
      ['`node -e 0`', figure(node.median), figure(node.min), figure(node.max)],
    ];
    const markdown = [
      `## W7v: ${this.title}`,
      '',
      `Wall time in ms, lower is better; ${versionTimes.length} runs each, alternating.`,
      '',
      table(['command', 'median ms', 'min', 'max'], rows, ['l', 'r', 'r', 'r']),
      '',
      `Ratio ferry --version / node -e 0 over paired runs: ${spreadText(ratios, ratio)}; bar <= ${RATIO_BAR}x: ${metText(met)}.`,
      '',
    ].join('\n');
    return { id: 'W7v', markdown, bars: [{ workload: 'W7v', bar: `<= ${RATIO_BAR}x \`node -e 0\``, measured: ratio(ratios?.median), met }] };
  },
};

if (isMain(import.meta.url)) await runBench([w7version], process.argv.slice(2));
