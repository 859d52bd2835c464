/**
 * Where command results go: human lines, or one JSON document with --json (the
 * envelope of json-envelope.ts, printed once the command ends). Results go to
 * stdout, problems to stderr.
 */

import type { FerryError } from '../protocol/errors.js';
import { JsonEnvelope, errorJson } from './json-envelope.js';

export { errorJson };

export interface OutputOptions {
  json: boolean;
  quiet: boolean;
  /** One line per file for folder transfers too. */
  verbose?: boolean;
}

export class Output {
  readonly envelope = new JsonEnvelope();
  /** Set when the command's data goes to standard output (`-o -`): the envelope then goes to standard error. */
  stdoutTaken = false;

  constructor(readonly options: OutputOptions) {}

  /** A human result line (not printed with --json). */
  line(text: string): void {
    if (!this.options.json) process.stdout.write(`${text}\n`);
  }

  /** A summary line (not printed with --json or --quiet). */
  note(text: string): void {
    if (!this.options.json && !this.options.quiet) process.stdout.write(`${text}\n`);
  }

  /** The machine-readable result: the `data` of the --json envelope. */
  json(value: unknown): void {
    if (this.options.json) this.envelope.setData(value);
  }

  /** Prints the --json envelope for a command that ended with `exit` (or threw `thrown`). */
  finishJson(exit: number, thrown?: unknown): void {
    if (this.options.json) this.envelope.print(exit, thrown, this.stdoutTaken ? process.stderr : process.stdout);
  }

  /** Progress bars: only on a terminal, and neither with --quiet nor with --json. */
  get bars(): boolean {
    return process.stderr.isTTY === true && !this.options.quiet && !this.options.json;
  }

  /** Word of a pause or a retry, on stderr (not with --quiet): stdout stays for results. */
  notice(text: string): void {
    if (!this.options.quiet) process.stderr.write(`ferry: ${text}\n`);
  }

  /** A problem on stderr; `error` (when it has one) is also what --json reports as the command's error. */
  problem(text: string, error?: FerryError): void {
    process.stderr.write(`ferry: ${text}\n`);
    this.envelope.failed(error ? { code: error.code, message: text } : { message: text });
  }
}
