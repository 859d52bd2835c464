/**
 * With `--json`, every command prints exactly one JSON document on standard
 * output, of one shape (docs/json-output.schema.json):
 *
 *   {"ok": true,  "data": ...}                                  the command worked
 *   {"ok": false, "error": {"code", "message"}, "data"?: ...}   it did not (exit code > 0)
 *
 * `data` is the command's result; a multi-file command that partly failed keeps
 * it, so the per-file outcomes stay readable. `error.code` is one of the error
 * catalogue's codes (src/protocol/errors.ts), PARTIAL for exit code 8.
 */

import { FerryError, type ErrorCode } from '../protocol/errors.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';

export interface ErrorJson {
  code: ErrorCode;
  message: string;
}

export type Envelope = { ok: true; data: unknown } | { ok: false; error: ErrorJson; data?: unknown };

export function errorJson(error: FerryError): ErrorJson {
  return { code: error.code, message: error.message };
}

/** The error of an exit code when no single failure says more. */
const FALLBACK: Partial<Record<ExitCode, ErrorCode>> = {
  [ExitCode.USAGE]: 'USAGE',
  [ExitCode.AUTH]: 'AUTH_FAILED',
  [ExitCode.NOT_FOUND]: 'NOT_FOUND',
  [ExitCode.CONNECTION]: 'CONNECTION_LOST',
  [ExitCode.INTEGRITY]: 'INTEGRITY',
  [ExitCode.DENIED]: 'PERMISSION_DENIED',
  [ExitCode.PARTIAL]: 'PARTIAL',
};

/** Collects what a command reports, then prints its one envelope. */
export class JsonEnvelope {
  private data: unknown = null;
  private hasData = false;
  private readonly failures: { code?: ErrorCode; message: string }[] = [];

  setData(value: unknown): void {
    this.data = value;
    this.hasData = true;
  }

  /** A failure the command reported without ending (one file of many, a failed check); the code when it has one. */
  failed(failure: { code?: ErrorCode; message: string }): void {
    this.failures.push(failure);
  }

  build(exit: number, thrown?: unknown): Envelope {
    if (exit === ExitCode.OK && thrown === undefined) return { ok: true, data: this.data };
    const data = this.hasData ? { data: this.data } : {};
    return { ok: false, error: this.errorFor(exit, thrown), ...data };
  }

  private errorFor(exit: number, thrown: unknown): ErrorJson {
    if (thrown instanceof FerryError) return errorJson(thrown);
    if (thrown !== undefined) return { code: 'INTERNAL', message: (thrown as Error).message ?? String(thrown) };
    if (exit === ExitCode.PARTIAL) {
      const first = this.failures[0];
      const count = this.failures.length;
      return { code: 'PARTIAL', message: `${count} ${count === 1 ? 'item' : 'items'} failed${first ? `, the first: ${first.message}` : ''}; the others succeeded` };
    }
    const fallback = FALLBACK[exit as ExitCode] ?? 'INTERNAL';
    const matching = this.failures.find((failure) => failure.code !== undefined && exitCodeFor(failure.code) === exit) ?? this.failures[0];
    if (matching) return { code: matching.code ?? fallback, message: matching.message };
    return { code: fallback, message: `the command failed with exit code ${exit}` };
  }

  /** Prints the envelope as one line of JSON (on standard error when the data owns standard output). */
  print(exit: number, thrown?: unknown, stream: NodeJS.WritableStream = process.stdout): void {
    stream.write(`${JSON.stringify(this.build(exit, thrown))}\n`);
  }
}
