import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { ADMIN, spawnServer } from '../helpers/server.js';
import { eventually, freePort, withTools } from '../helpers/tools.js';

interface QueryAnswer {
  status: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

withTools('prometheus')('a real Prometheus server scrapes Ferry with the ops token and reads ferry_transfers_total back through its query API', async (t) => {
  const dataDir = await tempDir(t);
  const token = `ops-token-${process.pid}`;
  const server = await spawnServer(t, { FERRY_DATA_DIR: dataDir, FERRY_WORKERS: '2', FERRY_ADMIN_PASSWORD: ADMIN.password, FERRY_OPS_TOKEN: token });
  await server.waitForLog((line) => line.event === 'workers-ready');
  const env = { ...server.env, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password };
  const local = await tempDir(t);
  for (const n of [1, 2, 3]) await writeFile(join(local, `f${n}.txt`), `file ${n}`);
  const upload = await ferry(['upload', join(local, 'f1.txt'), join(local, 'f2.txt'), join(local, 'f3.txt')], { env });
  t.is(upload.code, 0, upload.stderr);

  const promDir = await tempDir(t);
  const promPort = await freePort();
  await writeFile(
    join(promDir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      'scrape_configs:',
      '  - job_name: ferry',
      '    authorization:',
      `      credentials: ${token}`,
      '    static_configs:',
      `      - targets: ['127.0.0.1:${server.opsPort}']`,
      '',
    ].join('\n'),
  );
  const prometheus = spawn(
    'prometheus',
    [
      `--config.file=${join(promDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ],
    { stdio: 'ignore' },
  );
  t.teardown(() => prometheus.kill('SIGKILL'));

  const query = encodeURIComponent('sum(ferry_transfers_total{direction="upload",result="ok"})');
  const value = await eventually(async () => {
    const response = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${query}`);
    const answer = (await response.json()) as QueryAnswer;
    const sample = answer.data.result[0]?.value[1];
    return sample === '3' ? sample : undefined;
  }, 30_000, 250);
  t.is(value, '3', 'Prometheus sees the three uploads');

  const workers = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=ferry_workers`);
  const answer = (await workers.json()) as QueryAnswer;
  t.is(answer.data.result[0]?.value[1], '2');
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});
