/**
 * The server's configuration: one convict schema with every key, its environment
 * variable, command-line flag, default and doc.
 *
 * Sources, lowest priority first: schema defaults, config/default.json,
 * config/$NODE_ENV.json, the file named by FERRY_CONFIG, .env, environment
 * variables, command-line flags.
 */

import convict from 'convict';
import dotenv from 'dotenv';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ferryError } from '../protocol/errors.js';
import { LOG_FORMATS, type LogFormat } from './logger.js';
import { MIN_FRAME_LIMIT } from '../protocol/frames.js';
import { S3_MIN_PART_BYTES } from '../storage/s3/limits.js';

export const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};
const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 };

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

function assertWhole(value: unknown, what: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`must be ${what}, got ${JSON.stringify(value)}`);
  }
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

const schema = {
  server: {
    host: { doc: 'Address the file service listens on.', format: String, default: '0.0.0.0', env: 'FERRY_HOST', arg: 'host' },
    port: { doc: 'TCP port of the file service (0 picks a free one).', format: 'port', default: 8080, env: 'FERRY_PORT', arg: 'port' },
  },
  ops: {
    host: { doc: 'Address of the ops HTTP server (metrics, health).', format: String, default: '0.0.0.0', env: 'FERRY_OPS_HOST', arg: 'ops-host' },
    port: { doc: 'Port of the ops HTTP server.', format: 'port', default: 8081, env: 'FERRY_OPS_PORT', arg: 'ops-port' },
    token: {
      doc: 'Bearer token /metrics requires (Authorization: Bearer TOKEN); empty leaves it open. Health endpoints stay open.',
      format: String,
      default: '',
      env: 'FERRY_OPS_TOKEN',
      sensitive: true,
    },
  },
  web: {
    enabled: {
      doc: 'Serve the web client (a page for phones and browsers: log in, browse, upload with resume, download) over HTTPS; needs TLS.',
      format: 'flag',
      default: true,
      env: 'FERRY_WEB',
      arg: 'web',
    },
    host: { doc: 'Address the HTTPS web client listens on.', format: String, default: '0.0.0.0', env: 'FERRY_WEB_HOST', arg: 'web-host' },
    port: { doc: 'Port of the HTTPS web client (0 picks a free one).', format: 'port', default: 8443, env: 'FERRY_WEB_PORT', arg: 'web-port' },
    sessionLifetime: { doc: 'How long a web login lasts before the browser must log in again.', format: 'ms', default: 43_200_000, env: 'FERRY_WEB_SESSION_LIFETIME' },
  },
  dataDir: { doc: 'Folder for stored files, uploads in progress and (by default) the users file.', format: String, default: './data', env: 'FERRY_DATA_DIR', arg: 'data-dir' },
  usersFile: { doc: 'Users file; empty means <dataDir>/users.json.', format: String, default: '', env: 'FERRY_USERS_FILE', arg: 'users-file' },
  workers: { doc: 'Worker processes; 0 runs everything in one process.', format: 'nat', default: availableParallelism(), env: 'FERRY_WORKERS', arg: 'workers' },
  logLevel: {
    doc: 'Log level.',
    format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: 'info',
    env: 'FERRY_LOG_LEVEL',
    arg: 'log-level',
  },
  logFormat: {
    doc: 'Shape of the JSON log lines: "json" (pino\'s own: time in epoch milliseconds, numeric levels, as pino tools read them) or "iso" (time in ISO 8601 UTC, level names such as "info").',
    format: [...LOG_FORMATS],
    default: 'json' as LogFormat,
    env: 'FERRY_LOG_FORMAT',
    arg: 'log-format',
  },
  rehashPasswords: {
    doc: 'Replace a password hash weaker than today\'s (scrypt from older versions) with argon2id at the user\'s next successful login. Turn off only for deliberately cheap test fixtures.',
    format: 'flag',
    default: true,
    env: 'FERRY_REHASH_PASSWORDS',
  },
  adminPassword: { doc: 'Password for the admin user created on first start (random if empty, written to admin-password next to the users file).', format: String, default: '', env: 'FERRY_ADMIN_PASSWORD', sensitive: true },
  tls: {
    enabled: {
      doc: 'Speak TLS (false: plain TCP, passwords and files readable by anyone on the network).',
      format: 'flag',
      default: true,
      env: 'FERRY_TLS',
      arg: 'tls',
    },
    cert: { doc: 'TLS certificate (PEM); empty means <dataDir>/tls/cert.pem, created on first start.', format: String, default: '', env: 'FERRY_TLS_CERT', arg: 'tls-cert' },
    key: { doc: 'TLS private key (PEM); empty means <dataDir>/tls/key.pem.', format: String, default: '', env: 'FERRY_TLS_KEY', arg: 'tls-key', sensitive: true },
  },
  mdns: { doc: 'Announce the service on the LAN over mDNS (_ferry._tcp).', format: 'flag', default: true, env: 'FERRY_MDNS', arg: 'mdns' },
  symlinks: {
    doc: 'Symlinks in homes on local disk: "inside" follows those that lead inside the home (checked on the opened file; Linux), "refuse" follows none.',
    format: ['inside', 'refuse'],
    default: 'inside',
    env: 'FERRY_SYMLINKS',
    arg: 'symlinks',
  },
  storage: { doc: 'Where files are kept: local disk or an S3-compatible store.', format: ['local', 's3'], default: 'local', env: 'FERRY_STORAGE', arg: 'storage' },
  s3: {
    endpoint: { doc: 'S3 endpoint URL (empty for AWS).', format: String, default: '', env: 'FERRY_S3_ENDPOINT' },
    bucket: { doc: 'S3 bucket.', format: String, default: '', env: 'FERRY_S3_BUCKET' },
    region: { doc: 'S3 region.', format: String, default: 'us-east-1', env: 'FERRY_S3_REGION' },
    accessKeyId: { doc: 'S3 access key id.', format: String, default: '', env: 'FERRY_S3_ACCESS_KEY_ID' },
    secretAccessKey: { doc: 'S3 secret access key.', format: String, default: '', env: 'FERRY_S3_SECRET_ACCESS_KEY', sensitive: true },
    forcePathStyle: { doc: 'Use path-style S3 addressing (MinIO, Ceph).', format: 'flag', default: false, env: 'FERRY_S3_FORCE_PATH_STYLE' },
    prefix: { doc: 'Key prefix under which Ferry keeps everything in the bucket (e.g. "ferry/").', format: String, default: '', env: 'FERRY_S3_PREFIX' },
    partSize: {
      doc: 'Size of each part of a multipart upload (at least 5MiB; larger for files that would need more than 10,000 parts).',
      format: 'partSize',
      default: 8 * 2 ** 20,
      env: 'FERRY_S3_PART_SIZE',
    },
    queueSize: {
      doc: 'Parts of one upload sent to the store at once (memory per upload is about (queueSize + 1) x partSize); raise it for a distant store such as AWS S3.',
      format: 'nat',
      default: 2,
      env: 'FERRY_S3_QUEUE_SIZE',
    },
  },
  limits: {
    maxConnections: { doc: 'Connections served at once; more are answered BUSY.', format: 'nat', default: 2000, env: 'FERRY_MAX_CONNECTIONS' },
    maxConnectionsPerIp: {
      doc: 'Connections from one IP address (an IPv6 /64) at once, counted before the TLS handshake.',
      format: 'nat',
      default: 256,
      env: 'FERRY_MAX_CONNECTIONS_PER_IP',
    },
    handshakeTimeout: { doc: 'Time a new connection has to finish its TLS handshake.', format: 'ms', default: 5_000, env: 'FERRY_HANDSHAKE_TIMEOUT' },
    authTimeout: { doc: 'Time a new connection has to log in.', format: 'ms', default: 10_000, env: 'FERRY_AUTH_TIMEOUT' },
    idleTimeout: { doc: 'A connection silent this long is closed.', format: 'ms', default: 300_000, env: 'FERRY_IDLE_TIMEOUT' },
    maxFileSize: { doc: 'Largest file accepted (bytes; 0 = no limit).', format: 'bytes', default: 0, env: 'FERRY_MAX_FILE_SIZE' },
    quota: { doc: 'Storage each user may fill (bytes; 0 = no limit).', format: 'bytes', default: 0, env: 'FERRY_QUOTA' },
    maxEntries: { doc: "Files and folders each user's home may hold (0 = no limit).", format: 'nat', default: 0, env: 'FERRY_MAX_ENTRIES' },
    quotaRescan: {
      doc: 'Homes are measured again at least this often, so that files changed on disk by other means count (quota and entry limits).',
      format: 'ms',
      default: 60_000,
      env: 'FERRY_QUOTA_RESCAN',
    },
    bandwidth: { doc: 'Bytes per second one connection may move (0 = no limit).', format: 'bytes', default: 0, env: 'FERRY_BANDWIDTH_LIMIT' },
    maxFrameSize: {
      doc: 'Largest frame accepted from a client (bytes).',
      format: (value: unknown) => {
        assertWhole(value, 'a size in bytes');
        if ((value as number) < MIN_FRAME_LIMIT) throw new Error(`must be at least ${MIN_FRAME_LIMIT} bytes (one full DATA frame)`);
      },
      default: 4 * 2 ** 20,
      env: 'FERRY_MAX_FRAME_SIZE',
    },
    authFailureDelay: { doc: 'Pause before answering a failed login.', format: 'ms', default: 500, env: 'FERRY_AUTH_FAILURE_DELAY' },
    banThreshold: { doc: 'Failed logins from one IP within banWindow before a ban (0: no bans).', format: 'nat', default: 10, env: 'FERRY_BAN_THRESHOLD' },
    accountBanThreshold: {
      doc: 'Failed logins against one account from one IP within banWindow before that account is refused to that IP (others still log in).',
      format: 'nat',
      default: 5,
      env: 'FERRY_ACCOUNT_BAN_THRESHOLD',
    },
    passwordChecks: {
      doc: 'Password checks one process runs at once; more wait their turn, so a login storm cannot starve transfers.',
      format: 'nat',
      default: 2,
      env: 'FERRY_PASSWORD_CHECKS',
    },
    authLogInterval: { doc: 'Refused logins from one address are logged as one line per this interval.', format: 'ms', default: 60_000, env: 'FERRY_AUTH_LOG_INTERVAL' },
    banWindow: { doc: 'Window over which failed logins are counted.', format: 'ms', default: 600_000, env: 'FERRY_BAN_WINDOW' },
    banDuration: { doc: 'How long a banned IP is refused.', format: 'ms', default: 900_000, env: 'FERRY_BAN_DURATION' },
    drainTimeout: { doc: 'On SIGTERM, how long transfers in flight may take to finish.', format: 'ms', default: 30_000, env: 'FERRY_DRAIN_TIMEOUT' },
    partialMaxAge: { doc: 'Partial uploads older than this are removed.', format: 'ms', default: 86_400_000, env: 'FERRY_PARTIAL_MAX_AGE' },
  },
};

export interface ConfigSources {
  env?: NodeJS.ProcessEnv;
  /** Command-line flags, e.g. ['--port', '9000']. */
  args?: string[];
  cwd?: string;
}

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Maps each schema key to its environment variable, to name both in messages. */
function envNames(node: object, prefix = ''): Map<string, string> {
  const names = new Map<string, string>();
  for (const [key, value] of Object.entries(node)) {
    const path = prefix + key;
    if (value && typeof value === 'object' && 'doc' in value) {
      if ('env' in value && typeof value.env === 'string') names.set(path, value.env);
    } else if (value && typeof value === 'object') {
      for (const [k, v] of envNames(value, `${path}.`)) names.set(k, v);
    }
  }
  return names;
}

/** Every environment variable the schema reads, for the README's configuration section to name. */
export function environmentVariables(): string[] {
  return [...envNames(schema).values()];
}

/** Each key that has a command-line flag: the flag, its environment variable, default and doc. */
export function commandLineFlags(node: object = schema): { flag: string; env: string | undefined; default: unknown; doc: string }[] {
  return Object.values(node).flatMap((value: unknown) => {
    if (!value || typeof value !== 'object') return [];
    if (!('doc' in value)) return commandLineFlags(value);
    const entry = value as { doc: string; arg?: string; env?: string; default: unknown; sensitive?: boolean };
    if (entry.arg === undefined) return [];
    return [{ flag: `--${entry.arg}`, env: entry.env, default: entry.sensitive ? undefined : entry.default, doc: entry.doc }];
  });
}

function explain(error: unknown): never {
  const names = envNames(schema);
  const lines = String((error as Error).message)
    .split('\n')
    .map((line) => {
      const key = /^([\w.]+):/.exec(line)?.[1];
      const env = key ? names.get(key) : undefined;
      return env ? `${line} (config key "${key}", environment variable ${env})` : line;
    });
  throw ferryError('USAGE', `invalid configuration:\n  ${lines.join('\n  ')}`);
}

export function loadConfig(sources: ConfigSources = {}) {
  const cwd = sources.cwd ?? process.cwd();
  const baseEnv = sources.env ?? process.env;
  const dotenvFile = join(cwd, '.env');
  // .env fills in what the real environment leaves unset, never more.
  const fromDotenv = existsSync(dotenvFile) ? dotenv.parse(readFileSync(dotenvFile)) : {};
  const env = { ...fromDotenv, ...baseEnv };
  const configDir = env.FERRY_CONFIG_DIR ?? join(PACKAGE_ROOT, 'config');
  try {
    const config = convict(schema, { env, args: sources.args ?? [] });
    const files = [join(configDir, 'default.json')];
    if (env.NODE_ENV) files.push(join(configDir, `${env.NODE_ENV}.json`));
    const named = env.FERRY_CONFIG;
    if (named) {
      const path = resolve(cwd, named);
      if (!existsSync(path)) throw new Error(`FERRY_CONFIG names ${path}, which does not exist`);
      files.push(path);
    }
    for (const file of files) if (existsSync(file)) config.loadFile(file);
    config.validate({ allowed: 'strict' });
    if (config.get('usersFile') === '') config.set('usersFile', join(config.get('dataDir'), 'users.json'));
    return config;
  } catch (error) {
    return explain(error);
  }
}

export type Config = ReturnType<typeof loadConfig>;
