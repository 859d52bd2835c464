/**
 * What both command lines share: turning any failure into a message on stderr and
 * the exit code of SPEC section 5.
 */

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
