import test, { type ExecutionContext } from 'ava';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { DURATION_UNITS, SIZE_UNITS, configWarnings, environmentVariables, loadConfig, parseWithUnits, schema, settingName, type ConfigSources } from '../../src/config/config.js';
import { FerryError } from '../../src/protocol/errors.js';
import { tempDir } from '../helpers/files.js';
import { REPO_ROOT } from '../helpers/cli.js';

interface Sources {
  defaultJson?: object;
  testJson?: object;
  /** Written to <cwd>/ferry.json and named by FERRY_CONFIG. */
  named?: object;
  dotenv?: string;
}

/**
 * A working folder (for .env and the FERRY_CONFIG file) and a config folder, both
 * fresh, and the environment that points at them. Nothing comes from the real
 * process environment or the checkout's config/ folder.
 */
async function sources(t: ExecutionContext, files: Sources = {}) {
  const cwd = await tempDir(t, 'ferry-config-cwd-');
  const configDir = join(cwd, 'config');
  await mkdir(configDir);
  if (files.defaultJson) await writeFile(join(configDir, 'default.json'), JSON.stringify(files.defaultJson));
  if (files.testJson) await writeFile(join(configDir, 'test.json'), JSON.stringify(files.testJson));
  if (files.named) await writeFile(join(cwd, 'ferry.json'), JSON.stringify(files.named));
  if (files.dotenv !== undefined) await writeFile(join(cwd, '.env'), files.dotenv);
  const env: NodeJS.ProcessEnv = { FERRY_CONFIG_DIR: configDir };
  if (files.named) env.FERRY_CONFIG = 'ferry.json';
  return { cwd, env };
}

async function load(t: ExecutionContext, env: NodeJS.ProcessEnv, rest: Omit<ConfigSources, 'env'> = {}) {
  const base = await sources(t);
  return loadConfig({ cwd: base.cwd, args: [], ...rest, env: { ...base.env, ...env } });
}

async function invalid(t: ExecutionContext, env: NodeJS.ProcessEnv, files: Sources = {}): Promise<string> {
  const base = await sources(t, files);
  const error = t.throws(() => loadConfig({ cwd: base.cwd, args: [], env: { ...base.env, ...env } }), { instanceOf: FerryError });
  t.is(error?.code, 'CONFIG');
  return error?.message ?? '';
}

test('with no other source, the documented defaults apply', async (t) => {
  const config = await load(t, {});
  t.is(config.get('server.host'), '0.0.0.0');
  t.is(config.get('server.port'), 8080);
  t.is(config.get('ops.host'), '0.0.0.0');
  t.is(config.get('ops.port'), 8081);
  t.is(config.get('dataDir'), './data');
  t.is(config.get('workers'), availableParallelism());
  t.is(config.get('storage'), 'local');
  t.is(config.get('mdns'), true);
  t.is(config.get('s3.region'), 'us-east-1');
});

test('each source overrides the ones below it: defaults, default.json, $NODE_ENV.json, FERRY_CONFIG, .env, environment, flags', async (t) => {
  // Key n is set by the first n sources, so it must show the value of source n.
  const layer = (name: string, keys: string[]) => {
    const value: Record<string, Record<string, string> | string> = {};
    for (const key of keys) {
      const [section, field] = key.split('.') as [string, string | undefined];
      if (field === undefined) value[section] = name;
      else value[section] = { ...(value[section] as Record<string, string> | undefined), [field]: name };
    }
    return value;
  };
  const base = await sources(t, {
    defaultJson: layer('default.json', ['server.host', 'ops.host', 'dataDir', 'tls.cert', 's3.bucket', 'usersFile']),
    testJson: layer('test.json', ['ops.host', 'dataDir', 'tls.cert', 's3.bucket', 'usersFile']),
    named: layer('FERRY_CONFIG', ['dataDir', 'tls.cert', 's3.bucket', 'usersFile']),
    dotenv: 'FERRY_TLS_CERT=.env\nFERRY_S3_BUCKET=.env\nFERRY_USERS_FILE=.env\n',
  });
  const config = loadConfig({
    cwd: base.cwd,
    env: { ...base.env, NODE_ENV: 'test', FERRY_S3_BUCKET: 'environment', FERRY_USERS_FILE: 'environment' },
    args: ['--users-file', 'flags'],
  });
  t.is(config.get('s3.region'), 'us-east-1', 'schema default');
  t.is(config.get('server.host'), 'default.json');
  t.is(config.get('ops.host'), 'test.json');
  t.is(config.get('dataDir'), 'FERRY_CONFIG');
  t.is(config.get('tls.cert'), '.env');
  t.is(config.get('s3.bucket'), 'environment');
  t.is(config.get('usersFile'), 'flags');
});

test('the $NODE_ENV file is read only for that NODE_ENV', async (t) => {
  const files = { defaultJson: { ops: { host: 'default.json' } }, testJson: { ops: { host: 'test.json' } } };
  const base = await sources(t, files);
  const load = (NODE_ENV?: string) =>
    loadConfig({ cwd: base.cwd, args: [], env: NODE_ENV === undefined ? base.env : { ...base.env, NODE_ENV } }).get('ops.host');
  t.is(load('test'), 'test.json');
  t.is(load('production'), 'default.json');
  t.is(load(), 'default.json');
});

test('.env fills in unset variables but never overrides one set in the environment, even to an empty value', async (t) => {
  const base = await sources(t, { dotenv: 'FERRY_PORT=1111\nFERRY_OPS_PORT=3333\nFERRY_S3_ENDPOINT=http://from-dotenv\n' });
  const env: NodeJS.ProcessEnv = { ...base.env, FERRY_PORT: '2222', FERRY_S3_ENDPOINT: '' };
  const config = loadConfig({ cwd: base.cwd, args: [], env });
  t.is(config.get('server.port'), 2222);
  t.is(config.get('ops.port'), 3333);
  t.is(config.get('s3.endpoint'), '');
  t.is(env.FERRY_OPS_PORT, undefined, 'the environment passed in is not modified');
  t.is(process.env.FERRY_OPS_PORT, undefined, 'the process environment is not modified');
});

test('a flag overrides the environment', async (t) => {
  const config = await load(t, { FERRY_PORT: '2222', FERRY_MDNS: 'on' }, { args: ['--port', '9000', '--mdns', 'off'] });
  t.is(config.get('server.port'), 9000);
  t.is(config.get('mdns'), false);
});

test('a port out of range is refused with CONFIG naming the key and its environment variable', async (t) => {
  const message = await invalid(t, { FERRY_PORT: '99999' });
  t.regex(message, /server\.port/);
  t.regex(message, /FERRY_PORT/);
});

test('a size that is not a size is refused with CONFIG naming the key and its environment variable', async (t) => {
  const message = await invalid(t, { FERRY_MAX_FILE_SIZE: 'lots' });
  t.regex(message, /limits\.maxFileSize/);
  t.regex(message, /FERRY_MAX_FILE_SIZE/);
});

test('a duration that is not a duration is refused with CONFIG naming the key and its environment variable', async (t) => {
  const message = await invalid(t, { FERRY_IDLE_TIMEOUT: 'soon' });
  t.regex(message, /limits\.idleTimeout/);
  t.regex(message, /FERRY_IDLE_TIMEOUT/);
});

test('a flag value that is not true or false is refused with CONFIG naming the key and its environment variable', async (t) => {
  const message = await invalid(t, { FERRY_MDNS: 'maybe' });
  t.regex(message, /\bmdns\b/);
  t.regex(message, /FERRY_MDNS/);
});

test('a bad value in a config file is refused with CONFIG naming the key and its environment variable', async (t) => {
  const message = await invalid(t, {}, { defaultJson: { limits: { maxFrameSize: 10 } } });
  t.regex(message, /limits\.maxFrameSize/);
  t.regex(message, /FERRY_MAX_FRAME_SIZE/);
});

test('an unknown key in a config file is refused with CONFIG naming the key', async (t) => {
  t.regex(await invalid(t, {}, { defaultJson: { limits: { maxFileSise: 1 } } }), /limits\.maxFileSise/);
  t.regex(await invalid(t, {}, { named: { colour: 'blue' } }), /colour/);
});

test('FERRY_CONFIG naming a missing file is refused with CONFIG naming the file', async (t) => {
  const message = await invalid(t, { FERRY_CONFIG: 'no-such-ferry.json' });
  t.regex(message, /no-such-ferry\.json/);
});

test('sizes are read with decimal and binary units', async (t) => {
  const sizes: [string, number][] = [
    ['10GiB', 10 * 2 ** 30],
    ['10 gib', 10 * 2 ** 30],
    ['1.5GB', 1.5e9],
    ['512k', 512_000],
    ['64MiB', 64 * 2 ** 20],
    ['1048576', 1_048_576],
    ['0', 0],
  ];
  for (const [text, bytes] of sizes) {
    t.is((await load(t, { FERRY_MAX_FILE_SIZE: text })).get('limits.maxFileSize'), bytes, text);
  }
  const base = await sources(t, { defaultJson: { limits: { quota: '2TiB', maxFileSize: 4096 } } });
  const config = loadConfig({ cwd: base.cwd, args: [], env: base.env });
  t.is(config.get('limits.quota'), 2 * 2 ** 40);
  t.is(config.get('limits.maxFileSize'), 4096);
});

test('durations are read in milliseconds or with s, m, h and d', async (t) => {
  const durations: [string, number][] = [
    ['30s', 30_000],
    ['5m', 300_000],
    ['24h', 86_400_000],
    ['2d', 172_800_000],
    ['250ms', 250],
    ['1500', 1500],
  ];
  for (const [text, ms] of durations) {
    t.is((await load(t, { FERRY_IDLE_TIMEOUT: text })).get('limits.idleTimeout'), ms, text);
  }
});

test('booleans are read from true/false, on/off, yes/no and 1/0 in any case', async (t) => {
  for (const text of ['off', 'OFF', 'false', 'no', '0']) t.is((await load(t, { FERRY_MDNS: text })).get('mdns'), false, text);
  for (const text of ['on', 'True', 'yes', '1']) t.is((await load(t, { FERRY_MDNS: text })).get('mdns'), true, text);
  t.is((await load(t, { FERRY_S3_FORCE_PATH_STYLE: 'yes' })).get('s3.forcePathStyle'), true);
});

test('the printed config redacts secrets but the program still reads them', async (t) => {
  const secrets = { FERRY_ADMIN_PASSWORD: 'admin-pw-7f3a', FERRY_S3_SECRET_ACCESS_KEY: 's3-secret-91c2', FERRY_TLS_KEY: 'tls-key-path-5d' };
  const config = await load(t, { ...secrets, FERRY_S3_ACCESS_KEY_ID: 'AKIAEXAMPLE' });
  const printed = config.toString();
  for (const secret of Object.values(secrets)) t.false(printed.includes(secret), `${secret} was printed`);
  const shown = JSON.parse(printed) as { adminPassword: string; s3: { secretAccessKey: string; accessKeyId: string }; tls: { key: string } };
  t.is(shown.adminPassword, '[Sensitive]');
  t.is(shown.s3.secretAccessKey, '[Sensitive]');
  t.is(shown.tls.key, '[Sensitive]');
  t.is(shown.s3.accessKeyId, 'AKIAEXAMPLE', 'what is not secret is shown');
  t.is(config.get('adminPassword'), secrets.FERRY_ADMIN_PASSWORD);
  t.is(config.get('s3.secretAccessKey'), secrets.FERRY_S3_SECRET_ACCESS_KEY);
});

test('the users file defaults to users.json in the data folder, unless it is set', async (t) => {
  t.is((await load(t, {})).get('usersFile'), join('./data', 'users.json'));
  t.is((await load(t, { FERRY_DATA_DIR: '/srv/ferry' })).get('usersFile'), join('/srv/ferry', 'users.json'));
  t.is((await load(t, { FERRY_DATA_DIR: '/srv/ferry', FERRY_USERS_FILE: '/etc/ferry/users.json' })).get('usersFile'), '/etc/ferry/users.json');
});

test('FERRY_SYMLINKS follows links that stay inside a home by default, takes "refuse", and refuses anything else naming the key', async (t) => {
  t.is((await load(t, {})).get('symlinks'), 'inside');
  t.is((await load(t, { FERRY_SYMLINKS: 'refuse' })).get('symlinks'), 'refuse');
  t.regex(await invalid(t, { FERRY_SYMLINKS: 'follow' }), /symlinks.*FERRY_SYMLINKS|FERRY_SYMLINKS.*symlinks/);
});

test("README's configuration section names every environment variable the server reads", async (t) => {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = /^## Configuration\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
  t.not(section, '', 'README.md has a "## Configuration" section');
  // Read by loadConfig itself, outside the schema.
  const names = [...environmentVariables(), 'FERRY_CONFIG', 'FERRY_CONFIG_DIR'];
  t.true(names.length > 40);
  const missing = names.filter((name) => !new RegExp(`\\b${name}\\b(?!_)`).test(section));
  t.deepEqual(missing, [], 'named in the configuration section of README.md');
});

interface SchemaSetting {
  env: string;
  format: unknown;
  default: unknown;
}

/** Every setting of the schema that has an environment variable, by that variable. */
function schemaSettings(node: object = schema): Map<string, SchemaSetting> {
  const found = new Map<string, SchemaSetting>();
  for (const value of Object.values(node) as unknown[]) {
    if (!value || typeof value !== 'object') continue;
    if (!('doc' in value)) {
      for (const [env, setting] of schemaSettings(value)) found.set(env, setting);
      continue;
    }
    const setting = value as unknown as { env?: string; format: unknown; default: unknown };
    if (setting.env !== undefined) found.set(setting.env, { env: setting.env, format: setting.format, default: setting.default });
  }
  return found;
}

/** Words the README's table uses for a default that is empty or decided at start. */
const DEFAULT_WORDS: Record<string, unknown> = {
  none: '',
  random: '',
  AWS: '',
  'AWS chain': '',
  "''": '',
  '<data dir>/users.json': '',
  '<data dir>/tls/cert.pem': '',
  'key.pem': '',
  'CPU count': availableParallelism(),
};

/** A default as the README writes it, read the way the schema reads a value of that setting. */
function readDefault(text: string, setting: SchemaSetting): unknown {
  if (Object.hasOwn(DEFAULT_WORDS, text)) return DEFAULT_WORDS[text];
  if (typeof setting.default === 'boolean') return text === 'true' ? true : text === 'false' ? false : text;
  if (typeof setting.default === 'number') {
    const number = text.replace(/ \(none\)$/, '');
    return parseWithUnits(number, setting.format === 'ms' ? DURATION_UNITS : SIZE_UNITS);
  }
  return text;
}

/** The rows of README's configuration table: each variable with the default written beside it. */
function readmeDefaults(readme: string): Map<string, string> {
  const section = /^## Configuration\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
  const defaults = new Map<string, string>();
  for (const line of section.split('\n').filter((row) => row.startsWith('| `FERRY_'))) {
    const [names = '', cell = ''] = line.split(' | ');
    const variables = [...names.matchAll(/`(FERRY_\w+)`/g)].map((match) => match[1] as string);
    const values = cell.split(/,\s+/).map((value) => value.replace(/`/g, '').trim());
    // One default for several variables is the default of each.
    const written = (index: number): string => (values.length === 1 ? (values[0] as string) : values.length === variables.length ? (values[index] as string) : `(${values.length} defaults for ${variables.length} variables)`);
    variables.forEach((name, index) => defaults.set(name, written(index)));
  }
  return defaults;
}

test("README's configuration table has a row for every setting of the schema, with the schema's default", async (t) => {
  const table = readmeDefaults(await readFile(join(REPO_ROOT, 'README.md'), 'utf8'));
  const settings = schemaSettings();
  t.true(settings.size > 40);
  const missing = [...settings.keys()].filter((name) => !table.has(name));
  t.deepEqual(missing, [], 'variables of the schema with no row in the table');
  const wrong = [...settings.values()].flatMap((setting) => {
    const written = table.get(setting.env);
    if (written === undefined) return [];
    const read = readDefault(written, setting);
    return read === setting.default ? [] : [`${setting.env}: README says ${written} (${JSON.stringify(read)}), the schema ${JSON.stringify(setting.default)}`];
  });
  t.deepEqual(wrong, [], 'defaults in the table that differ from the schema');
});

test('the table check would catch a missing row or a changed default', (t) => {
  const settings = schemaSettings();
  const drain = settings.get('FERRY_DRAIN_TIMEOUT') as SchemaSetting;
  t.is(readDefault('30s', drain), drain.default);
  t.not(readDefault('60s', drain), drain.default);
  const table = readmeDefaults('## Configuration\n| `FERRY_HOST`, `FERRY_PORT` | `0.0.0.0`, `8080` | x |\n## Next\n');
  t.deepEqual([...table], [['FERRY_HOST', '0.0.0.0'], ['FERRY_PORT', '8080']]);
  t.false(table.has('FERRY_DRAIN_TIMEOUT'));
});

test('FERRY_DRAIN_TIMEOUT_MS, the older name, still sets the drain timeout in milliseconds, with a warning', async (t) => {
  const config = await load(t, { FERRY_DRAIN_TIMEOUT_MS: '10000' });
  t.is(config.get('limits.drainTimeout'), 10_000);
  t.regex(configWarnings(config).join('\n'), /FERRY_DRAIN_TIMEOUT_MS is deprecated: set FERRY_DRAIN_TIMEOUT=10000ms/);
  const both = await load(t, { FERRY_DRAIN_TIMEOUT_MS: '10000', FERRY_DRAIN_TIMEOUT: '5s' });
  t.is(both.get('limits.drainTimeout'), 5_000, 'the current name wins');
  t.regex(configWarnings(both).join('\n'), /FERRY_DRAIN_TIMEOUT_MS is deprecated and ignored/);
  t.deepEqual(configWarnings(await load(t, {})), []);
});

test('settingName gives the environment variable the schema names for a setting', (t) => {
  t.is(settingName('tls.enabled'), 'FERRY_TLS');
  t.is(settingName('limits.drainTimeout'), 'FERRY_DRAIN_TIMEOUT');
  t.is(settingName('s3.bucket'), 'FERRY_S3_BUCKET');
  t.true(environmentVariables().includes(settingName('ops.port')));
});
