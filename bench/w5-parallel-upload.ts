/** W5: 8 clients at once, each uploading its own file (128 MiB; 4 MiB with --quick), to the default cluster. */

import { isMain, runBench } from './lib/bench.js';
import { transferWorkload } from './lib/transfer-workload.js';

export const w5 = transferWorkload({
  id: 'W5',
  title: 'parallel clients, each uploading its own file with `ferry upload` (aggregate)',
  direction: 'upload',
  unit: 'MB/s',
  ferryLayout: 'cluster',
  fixtures: (lab) => Promise.all(Array.from({ length: lab.options.sizes.parallelClients }, (_, i) => lab.parallelFile(i))),
  bars: [{ peer: 'rsync-fsync', atLeast: 1 }],
});

if (isMain(import.meta.url)) await runBench([w5], process.argv.slice(2));
