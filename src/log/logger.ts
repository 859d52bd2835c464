/**
 * Structured logs: pino JSON lines on stdout. Secrets are redacted by path so a
 * careless log call cannot print a password.
 *
 * Two shapes of the same lines (FERRY_LOG_FORMAT): `json`, pino's own (time in
 * epoch milliseconds, numeric levels: what pino's tools read), and `iso` (time
 * in ISO 8601 UTC, level names), for people and log stores that read lines as
 * they are.
 */

import { pino, stdTimeFunctions, type Logger, type LoggerOptions } from 'pino';
import type { LogFormat } from '../config/schema.js';

export type { Logger };

const SHAPES: Record<LogFormat, LoggerOptions> = {
  json: {},
  iso: {
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  },
};

export function createLogger(level: string, format: LogFormat = 'json', destination?: NodeJS.WritableStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { pid: process.pid },
    redact: { paths: ['password', '*.password', 'adminPassword', '*.secretAccessKey', '*.key'], censor: '[redacted]' },
    ...SHAPES[format],
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A logger that prints nothing, for library use and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Characters of a client-supplied string (a user name, a path) that reach the log. */
const CLIENT_TEXT_LOG_CHARS = 128;

/**
 * A client-supplied string cut to a size fit for a log line, saying how much was
 * cut, so a stranger cannot fill the disk with a megabyte-long user name.
 */
export function clientText(text: string | undefined): string | undefined {
  if (text === undefined || text.length <= CLIENT_TEXT_LOG_CHARS) return text;
  return `${text.slice(0, CLIENT_TEXT_LOG_CHARS)}...(${text.length - CLIENT_TEXT_LOG_CHARS} more characters)`;
}
