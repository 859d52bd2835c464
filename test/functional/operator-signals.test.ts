/**
 * What an operator reads off a running server: the metrics a real Prometheus
 * scrapes (build info, why transfers failed, the primary's own process, the
 * storage volume) and the audit lines in its log.
 */

import test, { type ExecutionContext } from 'ava';
import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { FerryClient } from '../../src/client/client.js';
import { FerryError } from '../../src/protocol/errors.js';
import { REPO_ROOT, ferry } from '../helpers/cli.js';
import { randomFile, tempDir } from '../helpers/files.js';
import { scrape } from '../helpers/metrics.js';
import { ADMIN, spawnServer, type SpawnedServer } from '../helpers/server.js';
import { eventually, freePort, withTools } from '../helpers/tools.js';

interface QueryAnswer {
  status: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

const ISO_8601_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const LEVEL_NAMES = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
/** Password hashing on a loaded machine can outlast the default 10 s to log in. */
const PATIENT = { FERRY_ADMIN_PASSWORD: ADMIN.password, FERRY_AUTH_TIMEOUT: '60s' };

function cliEnv(server: SpawnedServer, password = ADMIN.password): Record<string, string> {
  return { FERRY_SERVER: `127.0.0.1:${server.port}`, FERRY_USER: ADMIN.user, FERRY_PASSWORD: password };
}

/** A real Prometheus scraping `opsPort` every second; returns a query function. */
async function startPrometheus(t: ExecutionContext, opsPort: number): Promise<(expr: string) => Promise<QueryAnswer['data']['result']>> {
  const promDir = await tempDir(t);
  const promPort = await freePort();
  await writeFile(
    join(promDir, 'prometheus.yml'),
    ['global:', '  scrape_interval: 1s', 'scrape_configs:', '  - job_name: ferry', '    static_configs:', `      - targets: ['127.0.0.1:${opsPort}']`, ''].join('\n'),
  );
  const prometheus = spawn(
    'prometheus',
    [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
    { stdio: 'ignore' },
  );
  t.teardown(() => prometheus.kill('SIGKILL'));
  return async (expr) => {
    const response = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return ((await response.json()) as QueryAnswer).data.result;
  };
}

/** An upload source that announces more bytes than it yields: the server refuses the short upload with INTEGRITY. */
function shortSource(announced: number, actual: number): { size: number; open(): Readable } {
  return { size: announced, open: () => Readable.from([Buffer.alloc(actual, 7)]) };
}

withTools('prometheus')('Prometheus reads why transfers failed (quota apart from integrity, missing downloads counted), build info, the primary process and the storage size', async (t) => {
  const dataDir = await tempDir(t);
  const server = await spawnServer(t, { ...PATIENT, FERRY_DATA_DIR: dataDir, FERRY_WORKERS: '2', FERRY_QUOTA: '1MiB' });
  await server.waitForLog((line) => line.event === 'workers-ready');
  const local = await tempDir(t);
  await randomFile(join(local, 'big.bin'), 2 * 1024 * 1024);
  const overQuota = await ferry(['upload', join(local, 'big.bin')], { env: cliEnv(server) });
  t.is(overQuota.code, 7, overQuota.stderr);
  const missing = await ferry(['download', '/no-such-file.txt', '-d', local], { env: cliEnv(server) });
  t.is(missing.code, 4, missing.stderr);
  const client = await FerryClient.connect(server.address);
  t.teardown(() => client.close());
  await client.login(ADMIN.user, ADMIN.password);
  const short = await client.upload('/short.bin', shortSource(512 * 1024, 256 * 1024)).catch((error: unknown) => error);
  t.true(short instanceof FerryError);
  await client.close();

  const query = await startPrometheus(t, server.opsPort);
  const failures = await eventually(async () => {
    const result = await query('sum by (direction, code) (ferry_transfers_total{result="error"})');
    const counts = Object.fromEntries(result.map((sample) => [`${sample.metric.direction} ${sample.metric.code}`, Number(sample.value[1])]));
    return counts['upload INTEGRITY'] === 1 ? counts : undefined;
  }, 60_000, 250);
  t.deepEqual(failures, { 'upload QUOTA_EXCEEDED': 1, 'upload INTEGRITY': 1, 'download NOT_FOUND': 1 });

  const { version } = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const build = await query('ferry_build_info');
  t.is(build.length, 1, 'one build_info series for the whole service');
  t.like(build[0], { metric: { version, node: process.versions.node }, value: [build[0]?.value[0] ?? 0, '1'] });

  const memory = await query('process_resident_memory_bytes');
  t.deepEqual(memory.map((sample) => sample.metric.worker).sort(), ['0', '1', 'primary'], 'the primary reports its own process beside its workers');

  const size = await query('ferry_storage_size_bytes');
  const free = await query('ferry_storage_free_bytes');
  t.true(Number(size[0]?.value[1]) > 0);
  t.true(Number(size[0]?.value[1]) >= Number(free[0]?.value[1]), 'the volume holds at least its free bytes');

  // The default log format stays pino's: epoch milliseconds and numeric levels.
  const line = server.logs.find((entry) => entry.event === 'workers-ready');
  t.is(typeof line?.time, 'number');
  t.is(line?.level, 30);
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});

test('every HELP text of a Ferry metric lists the values its labels take', async (t) => {
  const dataDir = await tempDir(t);
  const server = await spawnServer(t, { ...PATIENT, FERRY_DATA_DIR: dataDir, FERRY_WORKERS: '1' });
  await server.waitForLog((line) => line.event === 'workers-ready');
  const text = await scrape(server.opsPort);
  const help = new Map(
    text
      .split('\n')
      .filter((line) => line.startsWith('# HELP ferry_'))
      .map((line) => {
        const [, , name, ...words] = line.split(' ');
        return [name as string, words.join(' ')];
      }),
  );
  t.regex(help.get('ferry_transfers_total') ?? '', /direction: upload\|download; result: ok\|error\|aborted.*code: .*OK\|.*QUOTA_EXCEEDED\|.*INTEGRITY/);
  t.regex(help.get('ferry_auth_attempts_total') ?? '', /result: success\|failure\|banned/);
  t.regex(help.get('ferry_build_info') ?? '', /version: .*node: /);
  for (const name of ['ferry_transfer_bytes_total', 'ferry_transfer_duration_seconds']) t.regex(help.get(name) ?? '', /direction: upload\|download/, name);
  for (const name of ['ferry_connections_active', 'ferry_connections_total']) t.regex(help.get(name) ?? '', /worker: 0\.\.N-1/, name);
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});

test('mkdir, mv, rm and logins leave audit lines with the user and remote address, in ISO 8601 time with level names under FERRY_LOG_FORMAT=iso', async (t) => {
  const dataDir = await tempDir(t);
  const server = await spawnServer(t, { ...PATIENT, FERRY_DATA_DIR: dataDir, FERRY_LOG_FORMAT: 'iso', FERRY_AUTH_FAILURE_DELAY: '0' });
  const env = cliEnv(server);
  const local = await tempDir(t);
  await writeFile(join(local, 'a.txt'), 'audit me');
  for (const args of [['mkdir', '/reports'], ['upload', join(local, 'a.txt'), '-d', '/reports'], ['mv', '/reports/a.txt', '/reports/b.txt'], ['rm', '/reports/b.txt']]) {
    const run = await ferry(args, { env });
    t.is(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
  }
  t.is((await ferry(['rm', '/reports/gone.txt'], { env })).code, 4);
  t.is((await ferry(['ls'], { env: cliEnv(server, 'not-the-password') })).code, 3);

  const audit = (event: string, extra: Record<string, unknown> = {}) =>
    server.waitForLog((line) => line.audit === true && line.event === event && Object.entries(extra).every(([key, value]) => line[key] === value));
  const remote = /^127\.0\.0\.1:\d+$/;
  const mkdir = await audit('mkdir');
  t.like(mkdir, { user: ADMIN.user, path: '/reports', result: 'ok', level: 'info' });
  t.regex(String(mkdir.remote), remote);
  t.like(await audit('rename'), { user: ADMIN.user, from: '/reports/a.txt', to: '/reports/b.txt', result: 'ok' });
  t.like(await audit('delete', { result: 'ok' }), { user: ADMIN.user, path: '/reports/b.txt' });
  t.like(await audit('delete', { result: 'error' }), { user: ADMIN.user, path: '/reports/gone.txt', code: 'NOT_FOUND' });
  const login = await audit('auth', { result: 'success' });
  t.like(login, { user: ADMIN.user, level: 'info' });
  t.regex(String(login.remote), remote);
  // Refusals are counted per source address (no port): a storm is summed up per address.
  const refused = await audit('auth', { result: 'failure' });
  t.like(refused, { user: ADMIN.user, level: 'warn', remote: '127.0.0.1' });

  for (const line of server.logs) {
    t.regex(String(line.time), ISO_8601_UTC, JSON.stringify(line));
    t.true(LEVEL_NAMES.includes(String(line.level)), JSON.stringify(line));
  }
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});

/** The README's alerting rules: the YAML block that opens with `groups:`. */
async function readmeAlertRules(): Promise<string> {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1] ?? '').find((yaml) => yaml.startsWith('groups:'));
  if (block === undefined) throw new Error('README.md has no ```yaml block of alerting rules (one that starts with "groups:")');
  return block;
}

/** Ten transfers a minute that fail with `code`, one a minute that succeeds, on instance `instance`. */
function failingSeries(instance: string, code: string): string[] {
  const labels = `job="ferry",instance="${instance}",worker="0",direction="upload"`;
  return [
    `      - series: 'ferry_transfers_total{${labels},result="error",code="${code}"}'`,
    "        values: '0+10x40'",
    `      - series: 'ferry_transfers_total{${labels},result="ok",code="OK"}'`,
    "        values: '0+1x40'",
  ];
}

withTools('promtool')("promtool: the README's FerryTransfersFailing alert ignores full quotas and missing names, and fires on integrity and storage failures", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'rules.yml'), await readmeAlertRules());
  const quiet = (code: string, instance: string) => [
    '  - interval: 1m',
    '    input_series:',
    ...failingSeries(instance, code),
    '    alert_rule_test:',
    '      - eval_time: 30m',
    '        alertname: FerryTransfersFailing',
    '        exp_alerts: []',
  ];
  const firing = (code: string, instance: string) => [
    '  - interval: 1m',
    '    input_series:',
    ...failingSeries(instance, code),
    '    alert_rule_test:',
    '      - eval_time: 30m',
    '        alertname: FerryTransfersFailing',
    '        exp_alerts:',
    `          - exp_labels: { instance: "${instance}" }`,
    `            exp_annotations: { summary: "more than 5% of transfers on ${instance} fail on the server's side" }`,
  ];
  await writeFile(
    join(dir, 'tests.yml'),
    [
      'rule_files: [rules.yml]',
      'evaluation_interval: 1m',
      'tests:',
      ...quiet('QUOTA_EXCEEDED', 'quota:8081'),
      ...quiet('NOT_FOUND', 'missing:8081'),
      ...quiet('PERMISSION_DENIED', 'denied:8081'),
      ...firing('INTEGRITY', 'integrity:8081'),
      ...firing('NO_SPACE', 'disk:8081'),
      '',
    ].join('\n'),
  );
  const run = async (args: string[]) =>
    promisify(execFile)('promtool', args, { cwd: dir, encoding: 'utf8' }).then(
      ({ stdout, stderr }) => ({ code: 0, output: `${stdout}${stderr}` }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, output: `${error.stdout}${error.stderr}` }),
    );
  const checked = await run(['check', 'rules', 'rules.yml']);
  t.is(checked.code, 0, checked.output);
  const tested = await run(['test', 'rules', 'tests.yml']);
  t.is(tested.code, 0, tested.output);
});
