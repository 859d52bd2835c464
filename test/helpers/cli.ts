/**
 * Running the real command lines as child processes.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freshKnownHostsFile } from './tls.js';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REPO_ROOT = join(DIST, '..');
export const FERRY_BIN = join(DIST, 'src', 'cli', 'ferry.js');
export const SERVER_BIN = join(DIST, 'src', 'cli', 'ferry-server.js');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Run inside this network namespace (a test's second "device"). */
  netns?: string;
  /** Run as this unprivileged user id (and group id), where file permissions bind as they do for people. */
  uid?: number;
  env?: Record<string, string | undefined>;
  input?: string;
  cwd?: string;
  timeoutMs?: number;
}

export interface Running {
  child: ChildProcess;
  result: Promise<RunResult>;
}

function start(bin: string, args: string[], options: RunOptions = {}): Running {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of ['FERRY_SERVER', 'FERRY_USER', 'FERRY_PASSWORD', 'FERRY_FINGERPRINT', 'FERRY_TLS', 'FERRY_KNOWN_HOSTS']) delete env[key];
  // Each run pins into its own file unless the test names one: ports are reused by other servers.
  env.FERRY_KNOWN_HOSTS = freshKnownHostsFile();
  Object.assign(env, options.env);
  const [command, prefix] = options.netns
    ? ['ip', ['netns', 'exec', options.netns, process.execPath]]
    : options.uid !== undefined
      ? ['setpriv', [`--reuid=${options.uid}`, `--regid=${options.uid}`, '--clear-groups', process.execPath]]
      : [process.execPath, []];
  const child = spawn(command, [...prefix, bin, ...args], { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin?.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const result = new Promise<RunResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, result };
}

/** Starts `ferry` with `args`, for a test that needs to kill it midway. */
export function startFerry(args: string[], options?: RunOptions): Running {
  return start(FERRY_BIN, args, options);
}

/** Runs `ferry` with `args`. */
export function ferry(args: string[], options?: RunOptions): Promise<RunResult> {
  return start(FERRY_BIN, args, options).result;
}

/** Runs `ferry-server` with `args`. */
export function ferryServer(args: string[], options?: RunOptions): Promise<RunResult> {
  return start(SERVER_BIN, args, options).result;
}

/**
 * The `data` of ferry's --json envelope ({ok, data} or {ok: false, error, data?});
 * throws when the output is no envelope or one without data.
 */
export function jsonData(stdout: string): unknown {
  const envelope = JSON.parse(stdout) as { ok?: unknown; data?: unknown };
  if (typeof envelope.ok !== 'boolean' || !('data' in envelope)) throw new Error(`not a --json envelope with data: ${stdout}`);
  return envelope.data;
}
