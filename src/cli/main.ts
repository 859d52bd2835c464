/**
 * What both command lines share: turning any failure into a message on stderr and
 * the exit code of the README's table.
 */

import { CommanderError, type Command } from 'commander';
import { FerryError, systemErrorCode } from '../protocol/errors.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { CLIENT_ENV } from './environment.js';

function reportFailure(program: string, error: unknown): ExitCode {
  if (error instanceof FerryError) {
    process.stderr.write(`${program}: ${error.message}\n`);
    return exitCodeFor(error.code);
  }
  // A stack trace helps whoever fixes the bug, not whoever meets it: it is shown on request.
  const detail = process.env[CLIENT_ENV.debug] ? ((error as Error).stack ?? String(error)) : `${(error as Error).message ?? String(error)} (${CLIENT_ENV.debug}=1 shows the details)`;
  process.stderr.write(`${program}: unexpected error: ${detail}\n`);
  return ExitCode.OTHER;
}

/**
 * A reader that stops early (`ferry ls | head -1`) closes the pipe: that is the
 * reader's choice, not a failure, so the program ends quietly with the code it
 * has so far, as the classic tools do. Nothing is left to say on a closed stderr.
 */
export function endQuietlyOnClosedPipes(): void {
  process.stdout.on('error', (error) => {
    if (systemErrorCode(error) !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? ExitCode.OK);
  });
  process.stderr.on('error', () => undefined);
}

/** Runs a CLI body and exits with its code once stdout has been flushed. */
export function runMain(program: string, body: () => Promise<number | void>): void {
  body().then(
    (code) => {
      process.exitCode = code ?? ExitCode.OK;
    },
    (error: unknown) => {
      process.exitCode = reportFailure(program, error);
    },
  );
}

/**
 * Parses the command line and runs the chosen action. Returns an exit code when
 * commander stopped early (--help and --version: 0; a usage error: 2).
 */
export async function parseCommandLine(program: Command, onUsageError?: (message: string) => void): Promise<ExitCode | undefined> {
  try {
    await program.parseAsync(process.argv);
    return undefined;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return ExitCode.OK;
      onUsageError?.(error.message.replace(/^error: /, ''));
      return ExitCode.USAGE;
    }
    throw error;
  }
}
