/**
 * Pipes: `ferry upload - NAME` sends standard input, `ferry download FILE -o -`
 * writes to standard output, so `tar c dir | ferry upload - backup.tar` and
 * `ferry download backup.tar -o - | tar x` work.
 *
 * Standard input cannot be read twice: a lost connection ends the upload (the
 * server keeps nothing) with exit code 5 and says so. Standard output can be
 * continued: a lost download resumes after the bytes already written, and the
 * SHA-256 still covers the whole file.
 */

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { FerryError, ferryError } from '../protocol/errors.js';
import { joinRemote } from '../protocol/paths.js';
import { isLost } from './connect.js';
import { remoteFrom, type CommandEnv } from './commands.js';
import { STDIO } from './destination.js';
import { ExitCode } from './exit-codes.js';
import { formatBytes } from './format.js';
import type { ProgressSink } from './progress-json.js';


/** `ferry upload - NAME` (or `- -d DIR NAME`): where standard input goes. */
export function stdinTarget(env: CommandEnv, args: readonly string[], dest: string | undefined): string {
  const [dash, name, ...rest] = args;
  if (dash !== STDIO || name === undefined || rest.length > 0 || name === STDIO) {
    throw ferryError('USAGE', 'standard input has no name of its own: give exactly one remote file name after "-", as in: tar c photos | ferry upload - photos.tar');
  }
  if (name.endsWith('/')) throw ferryError('USAGE', `"${name}" is a folder name; give the remote file name for standard input, as in ${name}backup.tar`);
  const cwd = env.cwd ?? [];
  return dest === undefined ? remoteFrom(cwd, name) : joinRemote(remoteFrom(cwd, dest), name);
}

export async function uploadStdin(env: CommandEnv, path: string, options: { noClobber: boolean; progress?: ProgressSink }): Promise<ExitCode> {
  const started = performance.now();
  let sent = 0;
  try {
    const result = await env.connection.client.uploadStream(path, process.stdin as AsyncIterable<Buffer>, {
      noClobber: options.noClobber,
      onProgress: (done) => {
        sent = done;
        options.progress?.update({ file: path, bytes: done });
      },
    });
    const seconds = (performance.now() - started) / 1000;
    env.out.line(`uploaded standard input -> ${result.path} (${formatBytes(result.size)})`);
    env.out.json({ files: [{ local: STDIO, remote: result.path, size: result.size, sha256: result.sha256 }], bytes: result.size, seconds });
    return ExitCode.OK;
  } catch (error) {
    if (isLost(error)) {
      throw ferryError(
        'CONNECTION_LOST',
        `the connection was lost after ${formatBytes(sent)} of standard input; nothing was stored under ${path}. ` +
          'Standard input cannot be read again, so this upload cannot be retried or resumed: run the whole pipeline again',
        error,
      );
    }
    throw error;
  }
}

/** Writes to standard output, waiting when the reader is slower than the network. */
async function writeStdout(chunk: Buffer): Promise<void> {
  if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
}

export async function downloadStdout(env: CommandEnv, remoteArg: string, options: { progress?: ProgressSink } = {}): Promise<ExitCode> {
  const started = performance.now();
  const path = remoteFrom(env.cwd ?? [], remoteArg);
  // Fed with every byte received, across reconnections: the end-to-end digest.
  const digest = createHash('sha256');
  let written = 0;
  const sink = {
    write: async (chunk: Buffer): Promise<void> => {
      await writeStdout(chunk);
      written += chunk.length;
    },
  };
  for (let tries = 0; ; tries++) {
    try {
      const result = await env.connection.client.download(path, sink, {
        offset: written,
        prefixDigest: digest,
        onProgress: (done, total) => options.progress?.update({ file: path, bytes: done, total }),
      });
      const seconds = (performance.now() - started) / 1000;
      // The data owns standard output: the result goes to standard error (see README, "Pipes").
      if (!env.out.options.quiet && !env.out.options.json) process.stderr.write(`ferry: downloaded ${path} -> standard output (${formatBytes(result.size)})\n`);
      env.out.json({ files: [{ local: STDIO, remote: path, size: result.size, sha256: result.sha256, resumedFrom: 0 }], bytes: result.size, seconds });
      return ExitCode.OK;
    } catch (error) {
      if (error instanceof FerryError && error.code === 'INTEGRITY') {
        throw ferryError('INTEGRITY', `${error.message.replace(/;.*$/, '')}; what was written to standard output is not to be trusted`, error);
      }
      if (!isLost(error) || tries >= env.connection.retries) throw error;
      await env.connection.reconnect();
    }
  }
}
