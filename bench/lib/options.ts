/**
 * The bench's command line and the sizes of each mode, in one typed place.
 *
 *   --quick          small sizes, one run each (for CI, about two minutes)
 *   --runs N         repetitions in full mode (default 3; medians need at least 3)
 *   --no-install     never apt-get install a missing baseline
 *   --peers a,b      only these baselines (rsync, rsync-fsync, ftp, sftp, nc, node)
 *   --keep           keep the temporary folder (for a look at what landed)
 *   --cpu-prof DIR   run Ferry's server (and its workers) and every ferry command with
 *                    node --cpu-prof, writing the .cpuprofile files into DIR
 */

import { resolve } from 'node:path';

const MIB = 1024 * 1024;

interface Sizes {
  /** W1, W2: the one big file. */
  bigFileBytes: number;
  /** W3, W4: files in the folder and the size of each. */
  folderFiles: number;
  folderFileBytes: number;
  /** W5: parallel clients and the file each uploads. */
  parallelClients: number;
  parallelFileBytes: number;
  /** W6: clients, the pause between one client's stats, and how long each measured window lasts. */
  statClients: number;
  statIntervalMs: number;
  statWindowMs: number;
  /** W7 and W7v: timed runs of each command. */
  lsRuns: number;
  /** W7: entries of the listed folder. */
  lsEntries: number;
}

const FULL_SIZES: Sizes = {
  bigFileBytes: 1024 * MIB,
  folderFiles: 1000,
  folderFileBytes: 4096,
  parallelClients: 8,
  parallelFileBytes: 128 * MIB,
  statClients: 1000,
  statIntervalMs: 100,
  statWindowMs: 10_000,
  lsRuns: 20,
  lsEntries: 10,
};

const QUICK_SIZES: Sizes = {
  bigFileBytes: 16 * MIB,
  folderFiles: 100,
  folderFileBytes: 4096,
  parallelClients: 8,
  parallelFileBytes: 4 * MIB,
  statClients: 50,
  statIntervalMs: 100,
  statWindowMs: 2000,
  lsRuns: 5,
  lsEntries: 10,
};

const BASELINE_KEYS = ['rsync', 'rsync-fsync', 'ftp', 'sftp', 'nc', 'node'] as const;
export type BaselineKey = (typeof BASELINE_KEYS)[number];

/** What the tables call each baseline. */
export const BASELINE_LABELS: Record<BaselineKey, string> = {
  rsync: 'rsync daemon',
  'rsync-fsync': 'rsync daemon --fsync',
  ftp: 'FTP (vsftpd; curl, lftp)',
  sftp: 'OpenSSH sftp',
  nc: 'nc into a file',
  node: 'minimal Node pipe',
};

export interface BenchOptions {
  quick: boolean;
  runs: number;
  install: boolean;
  keep: boolean;
  baselines: BaselineKey[];
  sizes: Sizes;
  /** Node options for every Ferry process (the server and each `ferry` command). */
  ferryNodeArgs: string[];
}

export function parseOptions(argv: readonly string[]): BenchOptions {
  let quick = false;
  let runs: number | undefined;
  let install = true;
  let keep = false;
  let baselines: BaselineKey[] = [...BASELINE_KEYS];
  const ferryNodeArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    switch (arg) {
      case '--quick':
        quick = true;
        break;
      case '--runs': {
        runs = Number(argv[++i]);
        if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs takes a whole number >= 1, not "${argv[i]}"`);
        break;
      }
      case '--no-install':
        install = false;
        break;
      case '--keep':
        keep = true;
        break;
      case '--cpu-prof': {
        const dir = argv[++i];
        if (dir === undefined || dir === '') throw new Error('--cpu-prof takes the folder to write the profiles into');
        ferryNodeArgs.push('--cpu-prof', `--cpu-prof-dir=${resolve(dir)}`);
        break;
      }
      case '--peers': {
        const names = (argv[++i] ?? '').split(',').filter((name) => name !== '');
        const unknown = names.filter((name) => !(BASELINE_KEYS as readonly string[]).includes(name));
        if (unknown.length > 0) throw new Error(`--peers knows ${BASELINE_KEYS.join(', ')}; not ${unknown.join(', ')}`);
        baselines = names as BaselineKey[];
        break;
      }
      default:
        throw new Error(`unknown argument "${arg}"; use --quick, --runs N, --no-install, --peers a,b, --keep or --cpu-prof DIR`);
    }
  }
  return { quick, runs: runs ?? (quick ? 1 : 3), install, keep, baselines, sizes: quick ? QUICK_SIZES : FULL_SIZES, ferryNodeArgs };
}
