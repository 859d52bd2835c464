/** W4: download the folder of W3 in one `ferry download`. */

import { isMain, runBench } from './lib/bench.js';
import { transferWorkload } from './lib/transfer-workload.js';

export const w4 = transferWorkload({
  id: 'W4',
  title: 'download that folder in one `ferry download`',
  direction: 'download',
  unit: 'files/s',
  ferryLayout: 'single',
  fixtures: async (lab) => [await lab.smallFilesFolder()],
  bars: [{ peer: 'rsync', atLeast: 1 }],
  // On a download the daemon sends: --fsync would only change rsync's client.
  leaveOut: ['rsync-fsync'],
});

if (isMain(import.meta.url)) await runBench([w4], process.argv.slice(2));
