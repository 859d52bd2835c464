/** Where the built project lives, seen from the compiled bench (dist/bench/lib). */

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REPO_ROOT = join(DIST, '..');
export const FERRY_BIN = join(DIST, 'src', 'cli', 'ferry.js');
export const SERVER_BIN = join(DIST, 'src', 'cli', 'ferry-server.js');
/** The compiled helper that plays both ends of the minimal Node pipe. */
export const NODE_PIPE_BIN = join(DIST, 'bench', 'peers', 'node-pipe-endpoint.js');
/** Where the results tables are written (the source tree, not dist). */
export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
