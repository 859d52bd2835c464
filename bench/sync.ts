/**
 * A second `ferry sync` of an unchanged 1,000-file tree (100 folders of 10 files,
 * 4 KiB each): the bytes the server's transfer metrics count for it (there should
 * be none) and its wall time, against a second `rsync -a` of the same tree to the
 * rsync daemon, in the same run, alternating. The first sync of each is untimed.
 * Not part of run.ts: run it alone after `npm run build`:
 *
 *   node dist/bench/sync.js [--runs N] [--keep]
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { randomFillSync } from 'node:crypto';
import { get } from 'node:http';
import { basename, join } from 'node:path';
import { isMain, runBench } from './lib/bench.js';
import { checkLanded, digestTree } from './lib/digests.js';
import type { Lab } from './lib/lab.js';
import { figure, ratio, spreadText, table, type Section, type Workload } from './lib/report.js';
import { pairedRatios, spread } from './lib/statistics.js';
import type { FerryPeer } from './peers/ferry.js';

const FOLDERS = 100;
const FILES_PER_FOLDER = 10;
const FILE_BYTES = 4096;
const TAG = 'sync';

async function writeTree(root: string): Promise<void> {
  for (let folder = 0; folder < FOLDERS; folder++) {
    const dir = join(root, `folder-${String(folder).padStart(3, '0')}`);
    await mkdir(dir, { recursive: true });
    for (let file = 0; file < FILES_PER_FOLDER; file++) await writeFile(join(dir, `file-${file}.bin`), randomFillSync(Buffer.allocUnsafe(FILE_BYTES)));
  }
}

function metrics(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics', timeout: 10_000 }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

/** ferry_transfer_bytes_total, both directions, all workers. */
async function bytesMoved(ferry: FerryPeer): Promise<number> {
  let total = 0;
  for (const line of (await metrics(ferry.opsPort)).split('\n')) {
    const match = /^ferry_transfer_bytes_total(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (match) total += Number(match[2]);
  }
  return total;
}

async function timed(body: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await body();
  return performance.now() - started;
}

export const syncBench: Workload = {
  id: 'S1',
  title: `second sync of an unchanged ${FOLDERS * FILES_PER_FOLDER}-file tree, against \`rsync -a\` to an rsync daemon`,
  async run(lab: Lab): Promise<Section> {
    const tree = join(await lab.dir('src-sync'), 'tree');
    await writeTree(tree);
    const expected = new Map([[basename(tree), await digestTree(tree)]]);
    const ferry = await lab.ferry('single');
    const rsync = (await lab.baselines()).peers.find((peer) => peer.key === 'rsync');
    const ferrySync = (): Promise<unknown> => ferry.ferry(['sync', tree, `:/${TAG}/${basename(tree)}`]);
    await ferrySync();
    const rsyncSync = rsync ? await rsync.prepareUpload(tree, TAG) : undefined;
    await rsyncSync?.go();
    const ferryTimes: number[] = [];
    const rsyncTimes: number[] = [];
    const floorTimes: number[] = [];
    const bytes: number[] = [];
    for (let i = 0; i < lab.options.runs; i++) {
      lab.settle();
      const before = await bytesMoved(ferry);
      ferryTimes.push(await timed(ferrySync));
      bytes.push((await bytesMoved(ferry)) - before);
      lab.settle();
      if (rsyncSync) rsyncTimes.push(await timed(() => rsyncSync.go()));
      // What any command costs before its work: start, connect, log in (rsync's daemon asks no password).
      floorTimes.push(await timed(() => ferry.ferry(['stat', `/${TAG}`])));
    }
    const wrong = await checkLanded(ferry.uploadedTo(TAG), expected);
    if (wrong) lab.fail(`S1 Ferry: ${wrong}`);
    if (rsync) {
      const rsyncWrong = await checkLanded(rsync.uploadedTo(TAG), expected);
      if (rsyncWrong) lab.fail(`S1 rsync: ${rsyncWrong}`);
    }
    if (bytes.some((count) => count !== 0)) lab.fail(`S1: a second sync moved file bytes: ${bytes.join(', ')}`);
    const ferrySpread = spread(ferryTimes);
    const rsyncSpread = rsyncTimes.length > 0 ? spread(rsyncTimes) : undefined;
    const floor = spread(floorTimes);
    const ratios = pairedRatios(ferryTimes, rsyncTimes);
    lab.log(
      `S1: ferry sync ${figure(ferrySpread.median)} ms (${bytes.join(', ')} file bytes), rsync -a ${figure(rsyncSpread?.median)} ms, ` +
        `ratio ${ratio(ratios?.median)}; ferry stat ${figure(floor.median)} ms`,
    );
    const rows = [
      ['`ferry sync` (second run)', bytes.join(', '), figure(ferrySpread.median), figure(ferrySpread.min), figure(ferrySpread.max)],
      ['`rsync -a` to the rsync daemon (second run)', '-', figure(rsyncSpread?.median), figure(rsyncSpread?.min), figure(rsyncSpread?.max)],
      ['`ferry stat` of the folder (start, connect, log in: the floor of any command)', '0', figure(floor.median), figure(floor.min), figure(floor.max)],
    ];
    const markdown = [
      `## S1: ${this.title}`,
      '',
      `${FOLDERS * FILES_PER_FOLDER} files of ${FILE_BYTES / 1024} KiB in ${FOLDERS} folders; wall time of whole client processes in ms; ` +
        `${ferryTimes.length} runs each, alternating; FERRY_WORKERS=0. File bytes: ferry_transfer_bytes_total (both directions) before and after.`,
      '',
      table(['command', 'file bytes', 'median ms', 'min', 'max'], rows, ['l', 'r', 'r', 'r', 'r']),
      '',
      `Ratio ferry sync / rsync -a over paired runs: ${spreadText(ratios, ratio)}.${rsync ? '' : ' (rsync daemon not started: see the log)'}`,
      '',
    ].join('\n');
    return { id: 'S1', markdown, bars: [] };
  },
};

if (isMain(import.meta.url)) await runBench([syncBench], process.argv.slice(2));
