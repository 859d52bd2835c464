/**
 * Runs a list of workloads: opens the lab, runs each, prints the Markdown report
 * (and writes it under bench/results/ when asked), closes everything even on
 * Ctrl-C, and exits non-zero only when a transfer was wrong.
 */

import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from './lab.js';
import { parseOptions, type BenchOptions } from './options.js';
import { REPO_ROOT, RESULTS_DIR } from './paths.js';
import { timeProgram } from './processes.js';
import { barsSection, type BarCheck, type Section, type Workload } from './report.js';

/** True when the module at `url` is the script node was started with. */
export function isMain(url: string): boolean {
  return process.argv[1] !== undefined && fileURLToPath(url) === process.argv[1];
}

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function commitOf(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    return dirty === '' ? commit : `${commit} + uncommitted changes`;
  } catch {
    return 'unknown';
  }
}

function header(options: BenchOptions, lab: Lab, workloads: readonly Workload[], startLoad: number[], seconds: number): string {
  const sizes = options.sizes;
  const mode = options.quick ? 'quick (small sizes, for CI; not the figures of record)' : 'full (the sizes in bench/README.md)';
  const load = (values: number[]) => values.map((value) => value.toFixed(1)).join(' ');
  return [
    '# Ferry benchmarks',
    '',
    `- mode: ${mode}; ${options.runs} run${options.runs > 1 ? 's' : ''} of each peer; workloads ${workloads.map((w) => w.id).join(', ')}`,
    `- sizes: W1/W2 ${sizes.bigFileBytes / 2 ** 20} MiB; W3/W4 ${sizes.folderFiles} files of ${sizes.folderFileBytes / 1024} KiB; ` +
      `W5 ${sizes.parallelClients} x ${sizes.parallelFileBytes / 2 ** 20} MiB; W6 ${sizes.statClients} clients, stat every ${sizes.statIntervalMs} ms ` +
      `for ${sizes.statWindowMs / 1000} s; W7 and W7v ${sizes.lsRuns} runs`,
    `- Ferry ${commitOf()}; Node ${process.version}; ${cpus().length} CPUs; load average ${load(startLoad)} at the start, ` +
      `${load(loadavg())} at the end; ${Math.round(seconds)} s in all; ${new Date().toISOString()}`,
    '- all traffic on 127.0.0.1; timings are whole client processes (start, connect, log in, transfer, exit)',
    '- Ferry runs over TLS, its default (the server\'s own certificate; the client pins its fingerprint, FERRY_FINGERPRINT), ' +
      'FERRY_WORKERS=0 for W1-W4 and W7, the default cluster for W5 and W6',
    '- Ferry\'s server fsyncs every uploaded file before it reports it landed, as `rsync --fsync` does on its receiving side ' +
      '(the daemon, on uploads; W1, W3, W5); Ferry\'s client verifies and renames downloads without an fsync (its default; ' +
      '`--fsync` adds one), as plain rsync, FTP, sftp, nc and the Node pipe leave the data in the page cache ' +
      '(a sync runs between timed runs, untimed)',
    `- CPU (user + system), in the kernel's 10 ms ticks: each whole client process's rusage (start-up included) from wait4 through GNU time${timeProgram() === undefined ? ' (NOT installed: client CPU unmeasured)' : ''}; ` +
      "the server's process tree from /proc (utime + stime + cutime + cstime, so a daemon's reaped per-connection children count), " +
      `before and after each transfer. SHA-256 (node:crypto, one core, this run): ${lab.sha256.gibPerSecond.toFixed(2)} GiB/s, ` +
      `${lab.sha256.secondsPerGib.toFixed(2)} CPU s per GiB`,
    '- nc: the listening nc sends and the connecting nc writes the file (only a connecting nc ends by itself), ' +
      'so W1 and W2 measure the same thing for nc',
    '',
  ].join('\n');
}

/** Runs `workloads` with the command line `argv`; `resultsFile` names the Markdown file written (full and quick apart). */
export async function runBench(workloads: readonly Workload[], argv: readonly string[], resultsFile?: (options: BenchOptions) => string): Promise<never> {
  let options: BenchOptions;
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
  const began = performance.now();
  const startLoad = loadavg();
  const lab = await Lab.open(options, log);
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping the servers and removing ${lab.workDir}`);
    void lab.close().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const sections: Section[] = [];
  try {
    for (const workload of workloads) {
      log(`${workload.id}: ${workload.title}`);
      const workloadBegan = performance.now();
      try {
        sections.push(await workload.run(lab));
      } catch (error) {
        lab.fail(`${workload.id} could not run: ${(error as Error).stack ?? (error as Error).message}`);
        sections.push({ id: workload.id, markdown: `## ${workload.id}: ${workload.title}\n\nCould not run: ${(error as Error).message}\n`, bars: [] });
      }
      log(`${workload.id} done in ${Math.round((performance.now() - workloadBegan) / 1000)} s`);
    }
  } finally {
    await lab.close();
  }

  const bars: BarCheck[] = sections.flatMap((section) => section.bars);
  const parts = [header(options, lab, workloads, startLoad, (performance.now() - began) / 1000), ...sections.map((section) => section.markdown)];
  if (bars.length > 0) parts.push(barsSection(bars));
  parts.push(
    lab.failures.length === 0
      ? 'Correctness: every transfer landed intact (SHA-256 of every file matched).\n'
      : `Correctness: ${lab.failures.length} WRONG transfer(s):\n\n${lab.failures.map((failure) => `- ${failure}`).join('\n')}\n`,
  );
  const markdown = parts.join('\n');
  process.stdout.write(`\n${markdown}`);
  if (resultsFile) {
    await mkdir(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, resultsFile(options));
    await writeFile(file, markdown);
    log(`written to ${file}`);
  }
  process.exit(lab.failures.length === 0 ? 0 : 1);
}
