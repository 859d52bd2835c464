/** W3: upload a folder of many 4 KiB files in one `ferry upload` (1,000; 100 with --quick). */

import { isMain, runBench } from './lib/bench.js';
import { transferWorkload } from './lib/transfer-workload.js';

export const w3 = transferWorkload({
  id: 'W3',
  title: 'upload a folder of small files in one `ferry upload`',
  direction: 'upload',
  unit: 'files/s',
  ferryLayout: 'single',
  fixtures: async (lab) => [await lab.smallFilesFolder()],
  bars: [
    { peer: 'rsync-fsync', atLeast: 1 },
    { peer: 'rsync', atLeast: 1, moonshot: true },
  ],
});

if (isMain(import.meta.url)) await runBench([w3], process.argv.slice(2));
