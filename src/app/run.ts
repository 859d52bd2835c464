/**
 * Chooses the process model: one process (FERRY_WORKERS=0), or a cluster primary
 * and its workers.
 */

import cluster from 'node:cluster';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { runPrimary } from './primary.js';
import { runSingleProcess } from './single.js';
import { runWorker } from './worker.js';

export function runService(config: Config, logger: Logger): Promise<number> {
  if (config.get('workers') === 0) return runSingleProcess(config, logger);
  return cluster.isPrimary ? runPrimary(config, logger) : runWorker(config, logger);
}
