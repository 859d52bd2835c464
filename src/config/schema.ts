/**
 * Every server setting in one schema: its key, environment variable, command-line
 * flag, default and doc. Messages that tell an operator to set something name it
 * through settingName, so a renamed variable changes everywhere at once. Light on
 * imports, so the client may name server settings too.
 */

import { availableParallelism } from 'node:os';
import { MIN_FRAME_LIMIT } from '../protocol/frames.js';

/** The environment variable naming one more configuration file to load. */
export const CONFIG_FILE_VARIABLE = 'FERRY_CONFIG';
/** Where config/default.json and config/$NODE_ENV.json are looked for (tests point it elsewhere). */
export const CONFIG_DIR_VARIABLE = 'FERRY_CONFIG_DIR';

/** The two shapes of log line (see log/logger.ts). */
const LOG_FORMATS = ['json', 'iso'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Throws unless `value` is a whole number of at least 0; convict names the key in its message. */
export function assertWhole(value: unknown, what: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`must be ${what}, got ${JSON.stringify(value)}`);
  }
}

export const schema = {
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

type Setting = { doc: string; env?: string; arg?: string; default: unknown; sensitive?: boolean };
type SettingKeys<T, P extends string = ''> = {
  [K in keyof T & string]: T[K] extends { doc: string } ? `${P}${K}` : SettingKeys<T[K], `${P}${K}.`>;
}[keyof T & string];

/** A setting's key in the schema, e.g. "tls.enabled" or "limits.drainTimeout". */
export type SettingKey = SettingKeys<typeof schema>;

/** The environment variable of a setting, e.g. settingName('tls.enabled') is "FERRY_TLS". */
export function settingName(key: SettingKey): string {
  const setting = key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], schema) as Setting;
  if (setting.env === undefined) throw new Error(`the setting ${key} has no environment variable`);
  return setting.env;
}

/** A setting as an operator writes it in the environment, e.g. "FERRY_TLS=false". */
export function settingAssignment(key: SettingKey, value: string): string {
  return `${settingName(key)}=${value}`;
}

/** Maps each schema key to its environment variable, to name both in messages. */
export function envNames(node: object, prefix = ''): Map<string, string> {
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

/**
 * Environment variables that older releases or their process files used for a
 * setting: still read, with a warning, when the current name is unset. `suffix`
 * turns the old value into one the current name takes.
 */
const DEPRECATED_NAMES: readonly { name: string; key: SettingKey; suffix: string }[] = [{ name: 'FERRY_DRAIN_TIMEOUT_MS', key: 'limits.drainTimeout', suffix: 'ms' }];

/** `env` with each deprecated name in use moved to its current name, and a warning for each. */
export function withCurrentNames(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; warnings: string[] } {
  const current = { ...env };
  const warnings: string[] = [];
  for (const { name, key, suffix } of DEPRECATED_NAMES) {
    const value = env[name];
    if (value === undefined) continue;
    const now = settingName(key);
    if (current[now] === undefined) {
      current[now] = `${value.trim()}${suffix}`;
      warnings.push(`${name} is deprecated: set ${now}=${current[now]} instead (it takes units such as 30s)`);
    } else {
      warnings.push(`${name} is deprecated and ignored, since ${now} is set: unset ${name}`);
    }
  }
  return { env: current, warnings };
}
