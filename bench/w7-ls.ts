/**
 * W7: `ferry ls` of a 10-entry folder as a whole process (start, connect, log in,
 * list, exit), against `node -e 0`, the floor of any Node command line. The bar is
 * for the client package as a user installs it (the single-file bundle, shared with
 * W7v); the same `ls` from this clone's unbundled build is reported beside it. The
 * three alternate so they share the machine's mood, and each runs with nothing
 * around it (no CPU measurement), as a shell runs it.
 */

import { basename } from 'node:path';
import { isMain, runBench } from './lib/bench.js';
import type { Lab } from './lib/lab.js';
import { run } from './lib/processes.js';
import { figure, metText, ratio, spreadText, table, type Section, type Workload } from './lib/report.js';
import { pairedRatios, spread } from './lib/statistics.js';
import type { FerryPeer, InstalledClient } from './peers/ferry.js';

const RATIO_BAR = 3;

async function timed(body: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await body();
  return performance.now() - started;
}

interface Variant {
  label: string;
  /** The installed client package, or the clone's build when absent. */
  installed?: InstalledClient;
  /** Per run, in the order of the `node -e 0` runs; undefined where it failed, so the pairs stay aligned. */
  times: (number | undefined)[];
}

function measured(times: readonly (number | undefined)[]): number[] {
  return times.filter((time): time is number => time !== undefined);
}

/** One timed `ferry ls`, its listing checked; a failed run is a wrong transfer, not a time. */
async function lsOnce(lab: Lab, ferry: FerryPeer, variant: Variant, remote: string, names: string[], runIndex: number): Promise<void> {
  let listing = '';
  try {
    variant.times.push(await timed(async () => (listing = (await ferry.ferryAlone(['ls', remote], variant.installed, 60_000)).stdout)));
  } catch (error) {
    variant.times.push(undefined);
    lab.fail(`W7 ${variant.label} run ${runIndex + 1}: ${(error as Error).message.split('\n').join(' / ')}`);
    return;
  }
  const missing = names.filter((name) => !listing.includes(name));
  const lines = listing.trim().split('\n').length;
  if (missing.length > 0 || lines !== names.length) lab.fail(`W7 ${variant.label}: printed ${lines} lines, missing ${missing.join(', ') || 'nothing'}`);
}

export const w7: Workload = {
  id: 'W7',
  title: '`ferry ls` of a 10-entry folder, whole process, against `node -e 0`',
  async run(lab: Lab): Promise<Section> {
    const folder = await lab.listedFolder();
    const installed = await lab.installedClient();
    const ferry = await lab.ferry('single');
    await lab.stage(ferry, folder);
    const remote = `/stage/${basename(folder.path)}`;
    const names = [...folder.digests.keys()];
    const packaged: Variant = { label: 'installed package', installed, times: [] };
    const clone: Variant = { label: 'clone build', times: [] };
    const nodeTimes: number[] = [];
    for (let i = 0; i < lab.options.sizes.lsRuns; i++) {
      nodeTimes.push(await timed(() => run(process.execPath, ['-e', '0'])));
      await lsOnce(lab, ferry, packaged, remote, names, i);
      await lsOnce(lab, ferry, clone, remote, names, i);
    }
    const node = spread(nodeTimes);
    const packagedRatios = pairedRatios(packaged.times, nodeTimes);
    const cloneRatios = pairedRatios(clone.times, nodeTimes);
    const met = packagedRatios ? packagedRatios.median <= RATIO_BAR : undefined;
    const [p, c] = [spread(measured(packaged.times)), spread(measured(clone.times))];
    lab.log(
      `W7: ferry ls installed ${figure(p.median)} ms, clone ${figure(c.median)} ms, node -e 0 ${figure(node.median)} ms, ` +
        `ratio ${ratio(packagedRatios?.median)} (clone ${ratio(cloneRatios?.median)})`,
    );
    const rows = [
      [`\`ferry ls\` (${names.length} entries), installed client package`, figure(p.median), figure(p.min), figure(p.max)],
      [`\`ferry ls\`, this clone's unbundled build (\`node dist/src/cli/ferry.js\`)`, figure(c.median), figure(c.min), figure(c.max)],
      ['`node -e 0`', figure(node.median), figure(node.min), figure(node.max)],
    ];
    const markdown = [
      `## W7: ${this.title}`,
      '',
      `Wall time in ms, lower is better; ${nodeTimes.length} runs each, alternating; FERRY_WORKERS=0.`,
      '',
      table(['command', 'median ms', 'min', 'max'], rows, ['l', 'r', 'r', 'r']),
      '',
      `Ratio ferry ls (installed) / node -e 0 over paired runs: ${spreadText(packagedRatios, ratio)}; bar <= ${RATIO_BAR}x: ${metText(met)}.`,
      `Ratio ferry ls (clone build) / node -e 0 over paired runs: ${spreadText(cloneRatios, ratio)} (reported, not a bar).`,
      '',
    ].join('\n');
    return { id: 'W7', markdown, bars: [{ workload: 'W7', bar: `installed \`ferry ls\` <= ${RATIO_BAR}x \`node -e 0\``, measured: ratio(packagedRatios?.median), met }] };
  },
};

if (isMain(import.meta.url)) await runBench([w7], process.argv.slice(2));
