/**
 * Child processes for the bench: every one is started in its own process group and
 * remembered, so a stop (or the bench's own exit) ends it and whatever it forked,
 * and nothing else. Also loopback ports: a free one, and waiting until one listens.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { constants, accessSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const live = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

process.once('exit', () => {
  for (const child of live) killGroup(child, 'SIGKILL');
});

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** User + system CPU seconds of the process and the children it reaped (wait4's rusage), when it was started with `cpu`. */
  cpuSeconds?: number;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to standard input, which is then closed; without it, stdin is /dev/null. */
  input?: string;
  /** Measure the process's CPU (user + system, its reaped children included) through GNU time, when installed. */
  cpu?: boolean;
}

/** A started process: its exit, its output so far, and a stop that ends its whole group. */
export class Started {
  readonly exited: Promise<RunResult>;
  private stdoutText = '';
  private stderrText = '';

  constructor(
    readonly label: string,
    readonly child: ChildProcess,
    /** Where GNU time writes the rusage of a process started with `cpu`. */
    rusageFile?: string,
  ) {
    live.add(child);
    child.stdout?.on('data', (chunk: Buffer) => (this.stdoutText = keepTail(this.stdoutText + chunk.toString())));
    child.stderr?.on('data', (chunk: Buffer) => (this.stderrText = keepTail(this.stderrText + chunk.toString())));
    this.exited = new Promise((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        live.delete(child);
        void readRusage(rusageFile).then((cpuSeconds) =>
          resolve({ code, signal, stdout: this.stdoutText, stderr: this.stderrText, ...(cpuSeconds === undefined ? {} : { cpuSeconds }) }),
        );
      };
      child.once('error', (error) => {
        this.stderrText += String(error.message);
        finish(127, null);
      });
      child.once('close', finish);
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && live.has(this.child);
  }

  get stderr(): string {
    return this.stderrText;
  }

  get stdout(): string {
    return this.stdoutText;
  }

  /** SIGTERM to the group, SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<RunResult> {
    killGroup(this.child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(this.child, 'SIGKILL'), graceMs);
    const result = await this.exited;
    clearTimeout(timer);
    // Daemons fork per connection; make sure no straggler of the group is left.
    killGroup(this.child, 'SIGKILL');
    return result;
  }
}

/** Big outputs (a daemon's log) are kept to their last part only. */
function keepTail(text: string): string {
  return text.length > 64 * 1024 ? text.slice(-32 * 1024) : text;
}

/**
 * GNU time (Debian's `time` package) reports a child's rusage from wait4 at the cost
 * of one small exec; Node's own spawn does not give children's rusage.
 */
let timeBin: string | undefined;
let rusageFiles = 0;

/** GNU time's path, looked up until found (the bench may install it after start). */
export function timeProgram(): string | undefined {
  return (timeBin ??= which('time'));
}

/** User + system seconds from GNU time's `-f '%U %S'` output (its last line; a failed command's status line comes first). */
async function readRusage(file: string | undefined): Promise<number | undefined> {
  if (file === undefined) return undefined;
  try {
    const line = (await readFile(file, 'utf8')).trim().split('\n').pop() ?? '';
    const match = /^(\d+(?:\.\d+)?) (\d+(?:\.\d+)?)$/.exec(line);
    return match ? Number(match[1]) + Number(match[2]) : undefined;
  } catch {
    return undefined; // Never written: the process did not start.
  } finally {
    await rm(file, { force: true });
  }
}

export function start(command: string, args: readonly string[], options: SpawnOptions = {}): Started {
  const time = options.cpu ? timeProgram() : undefined;
  if (time !== undefined) {
    const file = join(tmpdir(), `ferry-bench-rusage-${process.pid}-${++rusageFiles}`);
    const child = spawnGroup(time, ['-f', '%U %S', '-o', file, command, ...args], options);
    return new Started(`${command} ${args.join(' ')}`, child, file);
  }
  return new Started(`${command} ${args.join(' ')}`, spawnGroup(command, args, options));
}

function spawnGroup(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    detached: true,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (options.input !== undefined) child.stdin?.end(options.input);
  return child;
}

export class CommandFailed extends Error {
  constructor(
    readonly label: string,
    readonly result: RunResult | undefined,
    why: string,
  ) {
    super(`${label}: ${why}${result ? `\n${tail(result.stderr || result.stdout)}` : ''}`);
  }
}

function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** Waits for a started process to end with status 0 within `timeoutMs`; otherwise kills it and throws. */
export async function finish(started: Started, timeoutMs: number): Promise<RunResult> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void started.stop(1000);
  }, timeoutMs);
  const result = await started.exited;
  clearTimeout(timer);
  if (timedOut) throw new CommandFailed(started.label, result, `did not finish within ${Math.round(timeoutMs / 1000)} s`);
  if (result.code !== 0) throw new CommandFailed(started.label, result, `exited with ${result.code ?? result.signal}`);
  return result;
}

/** Runs a command to its end; throws unless it exits 0 within `timeoutMs`. */
export function run(command: string, args: readonly string[], options: SpawnOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  return finish(start(command, args, options), options.timeoutMs ?? 60_000);
}

/** A port on 127.0.0.1 that nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Waits until something listens on 127.0.0.1:`port`, read from /proc/net/tcp, so
 * that no probe connection is spent (nc accepts exactly one).
 */
export async function waitListening(port: number, process_: Started, timeoutMs = 15_000): Promise<void> {
  const wanted = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const table = await readFile('/proc/net/tcp', 'utf8');
    if (table.split('\n').some((line) => line.trim().split(/\s+/)[1] === wanted && line.trim().split(/\s+/)[3] === '0A')) return;
    if (!process_.running) {
      const result = await process_.exited;
      throw new CommandFailed(process_.label, result, `exited with ${result.code ?? result.signal} before listening on port ${port}`);
    }
    await sleep(20);
  }
  throw new CommandFailed(process_.label, undefined, `did not listen on 127.0.0.1:${port} within ${timeoutMs / 1000} s`);
}

/** The full path of an executable, looking in PATH and the sbin folders (daemons live there). */
export function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
