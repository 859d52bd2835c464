/**
 * Where command results go: human lines, or one JSON document with --json.
 * Results go to stdout, problems to stderr.
 */

import { FerryError } from '../protocol/errors.js';

export interface OutputOptions {
  json: boolean;
  quiet: boolean;
  /** One line per file for folder transfers too. */
  verbose?: boolean;
}

export class Output {
  constructor(readonly options: OutputOptions) {}

  /** A human result line (not printed with --json). */
  line(text: string): void {
    if (!this.options.json) process.stdout.write(`${text}\n`);
  }

  /** A summary line (not printed with --json or --quiet). */
  note(text: string): void {
    if (!this.options.json && !this.options.quiet) process.stdout.write(`${text}\n`);
  }

  /** The machine-readable result (printed with --json only). */
  json(value: unknown): void {
    if (this.options.json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Progress bars: only on a terminal, and neither with --quiet nor with --json. */
  get bars(): boolean {
    return process.stderr.isTTY === true && !this.options.quiet && !this.options.json;
  }

  /** Word of a pause or a retry, on stderr (not with --quiet): stdout stays for results. */
  notice(text: string): void {
    if (!this.options.quiet) process.stderr.write(`ferry: ${text}\n`);
  }

  problem(text: string): void {
    process.stderr.write(`ferry: ${text}\n`);
  }
}

export function errorJson(error: FerryError): { code: string; message: string } {
  return { code: error.code, message: error.message };
}
