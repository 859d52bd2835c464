/**
 * The shape shared by W1-W5: move the same fixtures with Ferry and with every
 * baseline, round-robin within each run so that back-to-back runs share the
 * machine's mood; time only the transfer itself (whole client processes); check
 * every landed file by digest; sample Ferry's server memory while it works.
 */

import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import type { FerryLayout, FerryPeer } from '../peers/ferry.js';
import type { Peer, SkippedPeer, Transfer } from '../peers/peer.js';
import { checkLanded } from './digests.js';
import type { Fixture } from './fixtures.js';
import type { Lab } from './lab.js';
import { MemorySampler, mergePeaks, type MemoryPeak } from './memory.js';
import { figure, metText, ratio, table, type BarCheck, type Section, type Workload } from './report.js';
import { pairedRatios, spread } from './statistics.js';

export interface RatioBar {
  /** Baseline key (rsync, sftp, node...). */
  peer: string;
  /** Ferry / baseline must be at least this. */
  atLeast: number;
}

export interface TransferSpec {
  id: string;
  title: string;
  direction: 'upload' | 'download';
  unit: 'MB/s' | 'files/s';
  ferryLayout: FerryLayout;
  /** One fixture per concurrent client. */
  fixtures(lab: Lab): Promise<Fixture[]>;
  bars: RatioBar[];
  /** Bar on the largest Ferry server process, in MB. */
  memoryBarMB?: number;
}

interface PeerFigures {
  peer: Peer;
  /** Figure per run (undefined where the run failed). */
  values: (number | undefined)[];
  peaks: MemoryPeak[];
}

interface RunResult {
  value: number;
  peak: MemoryPeak | undefined;
}

/** One timed run of one peer: every fixture at once, one client each. */
async function runOnce(lab: Lab, spec: TransferSpec, peer: Peer, fixtures: Fixture[], run: number, ferry: FerryPeer): Promise<RunResult> {
  const tags = fixtures.map((_, i) => `${spec.id.toLowerCase()}-${peer.key}-r${run}-c${i}`);
  const places = spec.direction === 'upload' ? tags.map((tag) => peer.uploadedTo(tag)) : await Promise.all(tags.map((tag) => lab.dir('out', tag)));
  try {
    const transfers: Transfer[] = [];
    for (const [i, item] of fixtures.entries()) {
      transfers.push(
        spec.direction === 'upload'
          ? await peer.prepareUpload(item.path, tags[i] as string)
          : await peer.prepareDownload(basename(item.path), places[i] as string),
      );
    }
    lab.settle();
    const sampler = peer === ferry ? new MemorySampler(ferry.server.pid) : undefined;
    const started = performance.now();
    let peak: MemoryPeak | undefined;
    try {
      await Promise.all(transfers.map((transfer) => transfer.go()));
    } finally {
      peak = sampler?.stop();
    }
    const seconds = (performance.now() - started) / 1000;
    for (const [i, item] of fixtures.entries()) {
      const wrong = await checkLanded(places[i] as string, new Map([[basename(item.path), item.digests]]));
      if (wrong) {
        lab.fail(`${spec.id} ${peer.label} run ${run}: ${wrong}`);
        throw new Error(`wrong transfer: ${wrong}`);
      }
    }
    if (peer === ferry && spec.direction === 'upload') {
      const left = await ferry.leftovers();
      if (left.length > 0) lab.log(`WARNING ${spec.id}: the Ferry server kept temporary files after answering: ${left.slice(0, 5).join(', ')}`);
    }
    const amount = fixtures.reduce((sum, item) => sum + (spec.unit === 'MB/s' ? item.bytes / 1e6 : item.files), 0);
    return { value: amount / seconds, peak };
  } finally {
    await Promise.all(places.map((place) => rm(place, { recursive: true, force: true })));
  }
}

/** Stages the download fixtures on each peer (untimed); returns the peers that could take them. */
async function stageAll(lab: Lab, spec: TransferSpec, peers: Peer[], fixtures: Fixture[], ferry: FerryPeer, skipped: SkippedPeer[]): Promise<Peer[]> {
  const ready: Peer[] = [];
  for (const peer of peers) {
    try {
      for (const item of fixtures) await lab.stage(peer, item);
      ready.push(peer);
    } catch (error) {
      const reason = `staging failed: ${(error as Error).message.split('\n')[0]}`;
      if (peer === ferry) lab.fail(`${spec.id} Ferry ${reason}`);
      else skipped.push({ key: peer.key, label: peer.label, reason });
    }
  }
  return ready;
}

export function transferWorkload(spec: TransferSpec): Workload {
  return {
    id: spec.id,
    title: spec.title,
    async run(lab: Lab): Promise<Section> {
      const fixtures = await spec.fixtures(lab);
      const ferry = await lab.ferry(spec.ferryLayout);
      const baselines = await lab.baselines();
      const skipped: SkippedPeer[] = [...baselines.skipped];
      let active: Peer[] = [ferry, ...baselines.peers];
      if (spec.direction === 'download') active = await stageAll(lab, spec, active, fixtures, ferry, skipped);
      const results = new Map<Peer, PeerFigures>(active.map((peer) => [peer, { peer, values: [], peaks: [] }]));
      for (let run = 1; run <= lab.options.runs; run++) {
        for (const peer of [...active]) {
          const entry = results.get(peer) as PeerFigures;
          try {
            const { value, peak } = await runOnce(lab, spec, peer, fixtures, run, ferry);
            entry.values[run - 1] = value;
            if (peak) entry.peaks.push(peak);
            lab.log(`${spec.id} run ${run}/${lab.options.runs} ${peer.label}: ${figure(value)} ${spec.unit}`);
          } catch (error) {
            const reason = (error as Error).message.split('\n').slice(0, 4).join(' / ');
            if (peer === ferry) {
              lab.fail(`${spec.id} Ferry run ${run}: ${reason}`);
              continue;
            }
            // A baseline that fails is left out of this workload, not counted against Ferry.
            lab.log(`${spec.id} ${peer.label} dropped: ${reason}`);
            skipped.push({ key: peer.key, label: peer.label, reason: `failed in run ${run}: ${reason}` });
            active = active.filter((other) => other !== peer);
            results.delete(peer);
          }
        }
      }
      return report(spec, lab, ferry, [...results.values()], skipped);
    },
  };
}

function report(spec: TransferSpec, lab: Lab, ferry: FerryPeer, results: PeerFigures[], skipped: SkippedPeer[]): Section {
  const ferryFigures = results.find((entry) => entry.peer === ferry);
  const ferryValues = ferryFigures?.values ?? [];
  const ratiosOf = (entry: PeerFigures | undefined) => (entry ? pairedRatios(ferryValues, entry.values) : undefined);
  const rows = results.map((entry) => {
    const values = entry.values.filter((value): value is number => value !== undefined);
    const summary = values.length > 0 ? spread(values) : undefined;
    const isFerry = entry.peer === ferry;
    const ratios = isFerry ? undefined : ratiosOf(entry);
    const bar = spec.bars.find((candidate) => candidate.peer === entry.peer.key);
    const barText = bar ? `>= ${bar.atLeast}x: ${metText(ratios ? ratios.median >= bar.atLeast : undefined)}` : '';
    return [
      isFerry ? '**Ferry**' : entry.peer.label,
      figure(summary?.median),
      figure(summary?.min),
      figure(summary?.max),
      ...(isFerry ? ['', '', ''] : [ratio(ratios?.median), ratio(ratios?.min), ratio(ratios?.max)]),
      barText,
    ];
  });
  const bars: BarCheck[] = spec.bars.map((bar) => {
    const entry = results.find((candidate) => candidate.peer.key === bar.peer);
    const ratios = ratiosOf(entry);
    return {
      workload: spec.id,
      bar: `Ferry >= ${bar.atLeast}x ${entry?.peer.label ?? bar.peer}`,
      measured: ratio(ratios?.median),
      met: ratios ? ratios.median >= bar.atLeast : undefined,
    };
  });
  const runs = lab.options.runs;
  const lines = [
    `## ${spec.id}: ${spec.title}`,
    '',
    `${spec.unit}${spec.unit === 'MB/s' ? ' (1 MB = 10^6 bytes)' : ''}, higher is better; ${runs} run${runs > 1 ? 's' : ''} per peer, ` +
      'round-robin; ratio = Ferry / peer over back-to-back runs. Every transfer checked by SHA-256.',
    '',
    table(['peer', `${spec.unit} median`, 'min', 'max', 'Ferry/peer median', 'min', 'max', 'bar'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l']),
    '',
  ];
  const peak = mergePeaks(ferryFigures?.peaks ?? []);
  if (peak) {
    const layout = spec.ferryLayout === 'single' ? 'one process, FERRY_WORKERS=0, primary and worker at once' : 'primary + workers';
    lines.push(`Peak Ferry server RSS: ${figure(peak.totalMB)} MB in all (${layout}); largest process ${figure(peak.largestProcessMB)} MB.`);
    if (spec.memoryBarMB !== undefined) {
      const met = peak.largestProcessMB < spec.memoryBarMB;
      lines.push(`Memory bar (< ${spec.memoryBarMB} MB per worker): ${metText(met)}.`);
      bars.push({ workload: spec.id, bar: `server RSS < ${spec.memoryBarMB} MB per worker`, measured: `${figure(peak.largestProcessMB)} MB`, met });
    }
    lines.push('');
  }
  for (const skip of skipped) lines.push(`- skipped ${skip.label}: ${skip.reason}`);
  if (skipped.length > 0) lines.push('');
  return { id: spec.id, markdown: lines.join('\n'), bars };
}
