/**
 * Runs every workload (W1-W7, listed with their bars in bench/README.md) against Ferry and the baselines, prints
 * the tables, and writes them to bench/results/latest.md (full mode) or
 * bench/results/quick.md (--quick). Build first: `npm run build`, then
 *
 *   node dist/bench/run.js            full sizes, median of 3 runs
 *   node dist/bench/run.js --quick    small sizes, one run each (CI)
 *
 * Each workload also runs alone: node dist/bench/w1-upload.js [--quick] (w2-download,
 * w3-upload-folder, w4-download-folder, w5-parallel-upload, w6-many-clients, w7-ls,
 * w7-version).
 * Options: see lib/options.ts. Exits 1 only when a transfer was wrong.
 */

import { runBench } from './lib/bench.js';
import { w1 } from './w1-upload.js';
import { w2 } from './w2-download.js';
import { w3 } from './w3-upload-folder.js';
import { w4 } from './w4-download-folder.js';
import { w5 } from './w5-parallel-upload.js';
import { w6 } from './w6-many-clients.js';
import { w7 } from './w7-ls.js';
import { w7version } from './w7-version.js';

await runBench([w1, w2, w3, w4, w5, w6, w7, w7version], process.argv.slice(2), (options) => (options.quick ? 'quick.md' : 'latest.md'));
