/**
 * What both command lines share: turning any failure into a message on stderr and
 * the exit code of SPEC section 5.
 */

import { CommanderError, type Command } from 'commander';
import { FerryError } from '../protocol/errors.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';

export function reportFailure(program: string, error: unknown): ExitCode {
  if (error instanceof FerryError) {
    process.stderr.write(`${program}: ${error.message}\n`);
    return exitCodeFor(error.code);
  }
  process.stderr.write(`${program}: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
  return ExitCode.OTHER;
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
export async function parseCommandLine(program: Command): Promise<ExitCode | undefined> {
  try {
    await program.parseAsync(process.argv);
    return undefined;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    throw error;
  }
}
