/** W1: upload one big random file with `ferry upload` (1 GiB; 16 MiB with --quick). */

import { isMain, runBench } from './lib/bench.js';
import { transferWorkload } from './lib/transfer-workload.js';

export const w1 = transferWorkload({
  id: 'W1',
  title: 'upload one big random file (`ferry upload`)',
  direction: 'upload',
  unit: 'MB/s',
  ferryLayout: 'single',
  fixtures: async (lab) => [await lab.bigFile()],
  bars: [
    { peer: 'rsync-fsync', atLeast: 1 },
    { peer: 'rsync', atLeast: 1, moonshot: true },
  ],
  memoryBarMB: 100,
});

if (isMain(import.meta.url)) await runBench([w1], process.argv.slice(2));
