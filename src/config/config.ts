/**
 * The server's configuration, loaded and checked against the one schema
 * (config/schema.ts).
 *
 * Sources, lowest priority first: schema defaults, config/default.json,
 * config/$NODE_ENV.json, the file named by FERRY_CONFIG, .env, environment
 * variables, command-line flags.
 */

import convict from 'convict';
import dotenv from 'dotenv';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ferryError } from '../protocol/errors.js';
// The leaf module of S3's limits, not the storage entry: configuration loads before,
// and apart from, any backend.
import { S3_MIN_PART_BYTES } from '../storage/s3/limits.js';
import { CONFIG_DIR_VARIABLE, CONFIG_FILE_VARIABLE, assertWhole, envNames, schema, withCurrentNames } from './schema.js';

export { commandLineFlags, environmentVariables, settingName, settingAssignment, schema, withCurrentNames } from './schema.js';

/** What loading found worth a warning (deprecated names), for the caller to log once it has a logger. */
const loadWarnings = new WeakMap<object, string[]>();

export const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};
export const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 };

/**
 * "10GiB" or "30s" as a number; anything else is returned as it is, for `validate`
 * to refuse with a message that names the key (convict names keys only there).
 */
export function parseWithUnits(value: unknown, units: Record<string, number>): unknown {
  if (typeof value === 'number') return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(String(value));
  const factor = match ? units[(match[2] as string).toLowerCase()] : undefined;
  return match && factor !== undefined ? Math.round(Number(match[1]) * factor) : value;
}

convict.addFormat({
  name: 'bytes',
  validate: (value: unknown) => assertWhole(value, 'a size in bytes such as 1048576 or "10GiB"'),
  coerce: (value: unknown) => parseWithUnits(value, SIZE_UNITS),
});
convict.addFormat({
  name: 'partSize',
  validate: (value: unknown) => {
    assertWhole(value, 'a size in bytes such as 8388608 or "8MiB"');
    if ((value as number) < S3_MIN_PART_BYTES) throw new Error(`must be at least 5MiB (the smallest part S3 accepts), got ${String(value)}`);
  },
  coerce: (value: unknown) => parseWithUnits(value, SIZE_UNITS),
});
convict.addFormat({
  name: 'ms',
  validate: (value: unknown) => assertWhole(value, 'a duration such as 30000 (ms) or "30s", "5m", "24h"'),
  coerce: (value: unknown) => parseWithUnits(value, DURATION_UNITS),
});
convict.addFormat({
  name: 'flag',
  validate: (value: unknown) => {
    if (typeof value !== 'boolean') throw new Error(`must be true or false, got ${JSON.stringify(value)}`);
  },
  coerce: (value: unknown) => {
    const text = String(value).toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(text)) return true;
    if (['false', '0', 'no', 'off'].includes(text)) return false;
    return value;
  },
});

export interface ConfigSources {
  env?: NodeJS.ProcessEnv;
  /** Command-line flags, e.g. ['--port', '9000']. */
  args?: string[];
  cwd?: string;
}

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function explain(error: unknown): never {
  const names = envNames(schema);
  const lines = String((error as Error).message)
    .split('\n')
    .map((line) => {
      const key = /^([\w.]+):/.exec(line)?.[1];
      const env = key ? names.get(key) : undefined;
      return env ? `${line} (config key "${key}", environment variable ${env})` : line;
    });
  throw ferryError('CONFIG', `invalid configuration:\n  ${lines.join('\n  ')}`);
}

export function loadConfig(sources: ConfigSources = {}) {
  const cwd = sources.cwd ?? process.cwd();
  const baseEnv = sources.env ?? process.env;
  const dotenvFile = join(cwd, '.env');
  // .env fills in what the real environment leaves unset, never more.
  const fromDotenv = existsSync(dotenvFile) ? dotenv.parse(readFileSync(dotenvFile)) : {};
  const { env, warnings } = withCurrentNames({ ...fromDotenv, ...baseEnv });
  const configDir = env[CONFIG_DIR_VARIABLE] ?? join(PACKAGE_ROOT, 'config');
  try {
    const config = convict(schema, { env, args: sources.args ?? [] });
    const files = [join(configDir, 'default.json')];
    if (env.NODE_ENV) files.push(join(configDir, `${env.NODE_ENV}.json`));
    const named = env[CONFIG_FILE_VARIABLE];
    if (named) {
      const path = resolve(cwd, named);
      if (!existsSync(path)) throw new Error(`${CONFIG_FILE_VARIABLE} names ${path}, which does not exist`);
      files.push(path);
    }
    for (const file of files) if (existsSync(file)) config.loadFile(file);
    config.validate({ allowed: 'strict' });
    if (config.get('usersFile') === '') config.set('usersFile', join(config.get('dataDir'), 'users.json'));
    loadWarnings.set(config, warnings);
    return config;
  } catch (error) {
    return explain(error);
  }
}

export type Config = ReturnType<typeof loadConfig>;

/** The warnings loading `config` gave (a deprecated variable in use), to log at start. */
export function configWarnings(config: Config): readonly string[] {
  return loadWarnings.get(config) ?? [];
}
