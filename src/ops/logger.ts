/**
 * Structured logs: pino JSON lines on stdout. Secrets are redacted by path so a
 * careless log call cannot print a password.
 */

import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { pid: process.pid },
    redact: { paths: ['password', '*.password', 'adminPassword', '*.secretAccessKey', '*.key'], censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A logger that prints nothing, for library use and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
