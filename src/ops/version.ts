/**
 * Ferry's own version, read once from package.json so that the one place a
 * release sets it is the one every report (metrics, logs) shows.
 */

import { readFileSync } from 'node:fs';

const PACKAGE_JSON = new URL('../../../package.json', import.meta.url);

function readVersion(): string {
  const parsed = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version?: unknown };
  return typeof parsed.version === 'string' ? parsed.version : 'unknown';
}

export const FERRY_VERSION = readVersion();
