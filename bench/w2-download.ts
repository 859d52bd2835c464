/** W2: download the big file of W1 with `ferry download`. */

import { isMain, runBench } from './lib/bench.js';
import { transferWorkload } from './lib/transfer-workload.js';

export const w2 = transferWorkload({
  id: 'W2',
  title: 'download the same big file (`ferry download`)',
  direction: 'download',
  unit: 'MB/s',
  ferryLayout: 'single',
  fixtures: async (lab) => [await lab.bigFile()],
  bars: [{ peer: 'rsync', atLeast: 1 }],
  // On a download the daemon sends: --fsync would only change rsync's client.
  leaveOut: ['rsync-fsync'],
  memoryBarMB: 100,
});

if (isMain(import.meta.url)) await runBench([w2], process.argv.slice(2));
