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

/** Characters of a client-supplied string (a user name, a path) that reach the log. */
export const CLIENT_TEXT_LOG_CHARS = 128;

/**
 * A client-supplied string cut to a size fit for a log line, saying how much was
 * cut, so a stranger cannot fill the disk with a megabyte-long user name.
 */
export function clientText(text: string | undefined): string | undefined {
  if (text === undefined || text.length <= CLIENT_TEXT_LOG_CHARS) return text;
  return `${text.slice(0, CLIENT_TEXT_LOG_CHARS)}...(${text.length - CLIENT_TEXT_LOG_CHARS} more characters)`;
}
