/**
 * The shape shared by W1-W5: move the same fixtures with Ferry and with every
 * baseline, round-robin within each run so that back-to-back runs share the
 * machine's mood; time only the transfer itself (whole client processes); check
 * every landed file by digest; sample Ferry's server memory while it works; count
 * the CPU each side spent (the clients' rusage, the server's process tree).
 */

import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import type { FerryLayout, FerryPeer } from '../peers/ferry.js';
import type { Peer, SkippedPeer, Transfer, TransferCpu } from '../peers/peer.js';
import { checkLanded } from './digests.js';
import type { Fixture } from './fixtures.js';
import type { Lab } from './lab.js';
import { MemorySampler, mergePeaks, type MemoryPeak } from './memory.js';
import type { BaselineKey } from './options.js';
import { settledTreeCpu, treeCpu } from './proc.js';
import { figure, metText, ratio, spreadText, table, type BarCheck, type Section, type Workload } from './report.js';
import { pairedRatios, spread } from './statistics.js';

interface RatioBar {
  /** Baseline key (rsync, sftp, node...). */
  peer: string;
  /** Ferry / baseline must be at least this. */
  atLeast: number;
  /** A goal beyond the bar: reported, never counted as a miss. */
  moonshot?: boolean;
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
  /** Baselines this workload does not run (rsync --fsync only matters where the server receives). */
  leaveOut?: BaselineKey[];
  /** Bar on the largest Ferry server process, in MB. */
  memoryBarMB?: number;
}

interface PeerFigures {
  peer: Peer;
  /** Figure per run (undefined where the run failed). */
  values: (number | undefined)[];
  /** CPU seconds per run, each side (undefined where unmeasured). */
  clientCpu: (number | undefined)[];
  serverCpu: (number | undefined)[];
  peaks: MemoryPeak[];
}

interface RunResult {
  value: number;
  peak: MemoryPeak | undefined;
  clientCpu: number | undefined;
  serverCpu: number | undefined;
}

/** The sum of measured figures, undefined if any is missing. */
function sumOf(values: readonly (number | undefined)[]): number | undefined {
  return values.some((value) => value === undefined) ? undefined : values.reduce((sum: number, value) => sum + (value as number), 0);
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
    const daemon = peer.daemonPid;
    const treeBefore = daemon === undefined ? undefined : treeCpu(daemon);
    const sampler = peer === ferry ? new MemorySampler(ferry.server.pid) : undefined;
    const started = performance.now();
    let peak: MemoryPeak | undefined;
    let cpu: TransferCpu[];
    try {
      cpu = await Promise.all(transfers.map((transfer) => transfer.go()));
    } finally {
      peak = sampler?.stop();
    }
    const seconds = (performance.now() - started) / 1000;
    // Untimed: wait for the daemon to reap its per-connection children, whose CPU then counts in its tree.
    const treeAfter = daemon === undefined || treeBefore === undefined ? undefined : await settledTreeCpu(daemon, treeBefore);
    const clientCpu = sumOf(cpu.map((each) => each.client));
    const serverCpu = treeBefore && treeAfter ? treeAfter.seconds - treeBefore.seconds : sumOf(cpu.map((each) => each.server));
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
    return { value: amount / seconds, peak, clientCpu, serverCpu };
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
      const wanted = (key: string): boolean => !(spec.leaveOut as string[] | undefined)?.includes(key);
      const skipped: SkippedPeer[] = baselines.skipped.filter((skip) => wanted(skip.key));
      let active: Peer[] = [ferry, ...baselines.peers.filter((peer) => wanted(peer.key))];
      if (spec.direction === 'download') active = await stageAll(lab, spec, active, fixtures, ferry, skipped);
      const results = new Map<Peer, PeerFigures>(active.map((peer) => [peer, { peer, values: [], clientCpu: [], serverCpu: [], peaks: [] }]));
      for (let run = 1; run <= lab.options.runs; run++) {
        for (const peer of [...active]) {
          const entry = results.get(peer) as PeerFigures;
          try {
            const { value, peak, clientCpu, serverCpu } = await runOnce(lab, spec, peer, fixtures, run, ferry);
            entry.values[run - 1] = value;
            entry.clientCpu[run - 1] = clientCpu;
            entry.serverCpu[run - 1] = serverCpu;
            if (peak) entry.peaks.push(peak);
            lab.log(
              `${spec.id} run ${run}/${lab.options.runs} ${peer.label}: ${figure(value)} ${spec.unit}, ` +
                `CPU client ${figure(clientCpu)} s, server ${figure(serverCpu)} s`,
            );
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
      const amount = fixtures.reduce((sum, item) => ({ bytes: sum.bytes + item.bytes, files: sum.files + item.files }), { bytes: 0, files: 0 });
      return report(spec, lab, ferry, [...results.values()], skipped, amount);
    },
  };
}

const GIB = 2 ** 30;

/** CPU per unit of work: seconds per GiB for big files, milliseconds per file for small ones. */
interface CpuScale {
  unit: string;
  per(seconds: number): number;
}

function cpuScale(spec: TransferSpec, amount: { bytes: number; files: number }): CpuScale {
  return spec.unit === 'MB/s'
    ? { unit: 'CPU s/GiB', per: (seconds) => seconds / (amount.bytes / GIB) }
    : { unit: 'CPU ms/file', per: (seconds) => (seconds * 1000) / amount.files };
}

/** Per run: client + server CPU, scaled (undefined where either side is unmeasured). */
function totalCpu(entry: PeerFigures, scale: CpuScale): number[] {
  const totals: number[] = [];
  for (let i = 0; i < entry.values.length; i++) {
    const [client, server] = [entry.clientCpu[i], entry.serverCpu[i]];
    if (client !== undefined && server !== undefined) totals.push(scale.per(client + server));
  }
  return totals;
}

function cpuSpread(values: readonly (number | undefined)[], scale: CpuScale) {
  const measured = values.filter((value): value is number => value !== undefined).map(scale.per);
  return measured.length > 0 ? spread(measured) : undefined;
}

/**
 * The CPU bar against plain rsync, client + server, medians: per GiB at most rsync's
 * plus SHA-256 on both ends (Ferry hashes on each side), per small file at most twice rsync's.
 */
function cpuBar(spec: TransferSpec, lab: Lab, scale: CpuScale, ferryEntry: PeerFigures | undefined, rsyncEntry: PeerFigures | undefined): { line: string; check: BarCheck } {
  const ferryTotal = ferryEntry ? totalCpu(ferryEntry, scale) : [];
  const rsyncTotal = rsyncEntry ? totalCpu(rsyncEntry, scale) : [];
  const ferry = ferryTotal.length > 0 ? spread(ferryTotal).median : undefined;
  const rsync = rsyncTotal.length > 0 ? spread(rsyncTotal).median : undefined;
  const perGib = spec.unit === 'MB/s';
  const sha = 2 * lab.sha256.secondsPerGib;
  // The kernel counts CPU in 10 ms ticks: a small run of rsync may not reach one, and then there is nothing to compare with.
  const belowTick = rsync === 0;
  const limit = rsync === undefined || belowTick ? undefined : perGib ? rsync + sha : 2 * rsync;
  const met = ferry === undefined || limit === undefined ? undefined : ferry <= limit;
  const unit = perGib ? 's/GiB' : 'ms/file';
  const bar = perGib ? 'CPU client+server <= rsync + 2 x SHA-256 per GiB' : 'CPU client+server per file <= 2x rsync';
  const allowance = perGib ? `rsync ${figure(rsync)} + 2 x ${figure(lab.sha256.secondsPerGib)} (SHA-256)` : `2 x rsync ${figure(rsync)}`;
  const why = belowTick ? ' (rsync used less than one 10 ms clock tick at this size)' : '';
  return {
    line: `CPU bar: Ferry client+server ${figure(ferry)} ${unit} <= ${allowance} = ${figure(limit)} ${unit}: ${metText(met)}${why}.`,
    check: { workload: spec.id, bar, measured: `${figure(ferry)} vs ${figure(limit)} ${unit}`, met },
  };
}

function report(spec: TransferSpec, lab: Lab, ferry: FerryPeer, results: PeerFigures[], skipped: SkippedPeer[], amount: { bytes: number; files: number }): Section {
  const ferryFigures = results.find((entry) => entry.peer === ferry);
  const ferryValues = ferryFigures?.values ?? [];
  const scale = cpuScale(spec, amount);
  const ratiosOf = (entry: PeerFigures | undefined) => (entry ? pairedRatios(ferryValues, entry.values) : undefined);
  const verdict = (bar: RatioBar, met: boolean | undefined) => (bar.moonshot && met === false ? 'not yet' : metText(met));
  const rows = results.map((entry) => {
    const values = entry.values.filter((value): value is number => value !== undefined);
    const summary = values.length > 0 ? spread(values) : undefined;
    const isFerry = entry.peer === ferry;
    const ratios = isFerry ? undefined : ratiosOf(entry);
    const barText = spec.bars
      .filter((candidate) => candidate.peer === entry.peer.key)
      .map((bar) => `${bar.moonshot ? 'moonshot ' : ''}>= ${bar.atLeast}x: ${verdict(bar, ratios ? ratios.median >= bar.atLeast : undefined)}`)
      .join('; ');
    return [
      isFerry ? '**Ferry**' : entry.peer.label,
      figure(summary?.median),
      figure(summary?.min),
      figure(summary?.max),
      ...(isFerry ? ['', '', ''] : [ratio(ratios?.median), ratio(ratios?.min), ratio(ratios?.max)]),
      spreadText(cpuSpread(entry.clientCpu, scale), figure),
      spreadText(cpuSpread(entry.serverCpu, scale), figure),
      barText,
    ];
  });
  const bars: BarCheck[] = spec.bars.map((bar) => {
    const entry = results.find((candidate) => candidate.peer.key === bar.peer);
    const ratios = ratiosOf(entry);
    return {
      workload: spec.id,
      bar: `${bar.moonshot ? 'moonshot: ' : ''}Ferry >= ${bar.atLeast}x ${entry?.peer.label ?? bar.peer}`,
      measured: ratio(ratios?.median),
      met: ratios ? ratios.median >= bar.atLeast : undefined,
      ...(bar.moonshot ? { moonshot: true } : {}),
    };
  });
  const runs = lab.options.runs;
  const cpu = cpuBar(spec, lab, scale, ferryFigures, results.find((entry) => entry.peer.key === 'rsync'));
  bars.push(cpu.check);
  const lines = [
    `## ${spec.id}: ${spec.title}`,
    '',
    `${spec.unit}${spec.unit === 'MB/s' ? ' (1 MB = 10^6 bytes)' : ''}, higher is better; ${runs} run${runs > 1 ? 's' : ''} per peer, ` +
      'round-robin; ratio = Ferry / peer over back-to-back runs. Every transfer checked by SHA-256. ' +
      `${scale.unit}: user + system, median [min-max]; the client is its processes' rusage, the server its process tree ` +
      "(a daemon's per-connection children included).",
    '',
    table(
      ['peer', `${spec.unit} median`, 'min', 'max', 'Ferry/peer median', 'min', 'max', `client ${scale.unit}`, `server ${scale.unit}`, 'bar'],
      rows,
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    ),
    '',
    cpu.line,
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
  }
  lines.push('');
  for (const skip of skipped) lines.push(`- skipped ${skip.label}: ${skip.reason}`);
  if (skipped.length > 0) lines.push('');
  return { id: spec.id, markdown: lines.join('\n'), bars };
}
