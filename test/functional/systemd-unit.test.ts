import test from 'ava';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, ferryServer } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { withTools } from '../helpers/tools.js';

const UNIT = join(REPO_ROOT, 'deploy', 'ferry.service');
/** How long the primary waits past the drain timeout before it kills a busy worker. */
const PRIMARY_KILL_GRACE_S = 5;

async function run(command: string, args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, { encoding: 'utf8' });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, output: `${failure.stdout}${failure.stderr}` };
  }
}

/** Every value of `key` in the unit, in order. */
function settings(unit: string, key: string): string[] {
  return unit
    .split('\n')
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1));
}

function seconds(value: string | undefined): number {
  const match = /^(\d+)s$/.exec(value ?? '');
  if (!match) throw new Error(`expected a duration in seconds such as "45s", got ${String(value)}`);
  return Number(match[1]);
}

/**
 * The unit as it would be installed on this machine: systemd-analyze checks that
 * ExecStart's program exists, and Node may live elsewhere than /usr/bin/node.
 */
async function installedCopy(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const dir = await tempDir(t, 'ferry-unit-');
  const copy = join(dir, 'ferry.service');
  await writeFile(copy, (await readFile(UNIT, 'utf8')).replaceAll('/usr/bin/node ', `${process.execPath} `));
  return copy;
}

withTools('systemd-analyze')('systemd-analyze verify accepts deploy/ferry.service without a warning', async (t) => {
  const verified = await run('systemd-analyze', ['verify', await installedCopy(t)]);
  t.is(verified.code, 0, verified.output);
  t.is(verified.output.trim(), '', 'no warning about the unit');
});

withTools('systemd-analyze')('systemd-analyze rates the exposure of ferry.service as OK (2.5 or less of 10)', async (t) => {
  const rated = await run('systemd-analyze', ['security', '--offline=true', '--threshold=25', await installedCopy(t)]);
  t.is(rated.code, 0, rated.output);
  const level = /Overall exposure level for ferry\.service: (\d+(?:\.\d+)?)/.exec(rated.output)?.[1];
  t.log(`exposure level ${String(level)}`);
  t.true(Number(level) <= 2.5, rated.output);
});

test('ferry.service signals the primary alone and waits longer than the drain before it kills', async (t) => {
  const unit = await readFile(UNIT, 'utf8');
  t.deepEqual(settings(unit, 'KillSignal'), ['SIGTERM']);
  t.deepEqual(settings(unit, 'KillMode'), ['mixed'], 'SIGTERM to the primary, which stops its workers in order');
  t.deepEqual(settings(unit, 'Restart'), ['on-failure']);
  t.deepEqual(settings(unit, 'ExecReload'), ['/bin/kill -HUP $MAINPID'], 'reload is the rolling restart');
  const drain = settings(unit, 'Environment').find((value) => value.startsWith('FERRY_DRAIN_TIMEOUT='))?.split('=')[1];
  t.true(seconds(settings(unit, 'TimeoutStopSec')[0]) > seconds(drain) + PRIMARY_KILL_GRACE_S);
  for (const option of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'CapabilityBoundingSet=', 'SystemCallFilter=@system-service']) {
    t.true(unit.split('\n').includes(option), `${option} is set`);
  }
  t.true(settings(unit, 'ReadWritePaths').includes('/var/lib/ferry'), 'the data folder stays writable');
});

test("ferry.service's environment is a valid Ferry configuration", async (t) => {
  const unit = await readFile(UNIT, 'utf8');
  const dataDir = await tempDir(t);
  const env: Record<string, string> = {};
  for (const value of settings(unit, 'Environment')) {
    const [name, ...rest] = value.split('=');
    env[name as string] = rest.join('=');
  }
  t.is(env.FERRY_DATA_DIR, '/var/lib/ferry');
  const config = await ferryServer(['config'], { env: { ...env, FERRY_DATA_DIR: dataDir } });
  t.is(config.code, 0, config.stderr);
  t.regex(config.stdout, /"logFormat": "iso"/);
  t.regex(config.stdout, /"drainTimeout": 30000/);
});
