/**
 * W6: many clients connected and logged in at once (1,000; 50 with --quick), each
 * running `stat` every 100 ms, through the client library against the default
 * cluster: operations per second, latency percentiles, errors, server memory.
 *
 * The clients connect from several loopback addresses (127.0.0.10-29), as clients
 * of a real LAN come from several hosts; the server's per-address connection limit
 * stays at its default. Logging in is not timed (argon2id makes it slow on purpose);
 * each run is one measured window over the same logged-in clients.
 */

import { basename } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryClient } from '../src/client/client.js';
import { isMain, runBench } from './lib/bench.js';
import type { Lab } from './lib/lab.js';
import type { FerryPeer } from './peers/ferry.js';
import { MemorySampler, type MemoryPeak } from './lib/memory.js';
import { treeCpuSeconds } from './lib/proc.js';
import { figure, metText, spreadText, table, type Section, type Workload } from './lib/report.js';
import { quantile, spread } from './lib/statistics.js';

const SOURCE_ADDRESSES = 20;
const LOGINS_IN_FLIGHT = 16;
const P99_BAR_MS = 50;
const RSS_BAR_MB = 300;

interface Window {
  opsPerSecond: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  /** Answers with another size or digest than the file's: a correctness failure, not a figure. */
  wrong: number;
  peak: MemoryPeak;
  /** p99 event-loop delay of the bench process (ms): how late the load generator itself ran. */
  generatorLagP99: number;
  /** CPU used during the window, in cores busy on average: the server (primary + workers) and the load generator. */
  serverCores: number;
  generatorCores: number;
}

interface Probe {
  path: string;
  size: number;
  sha256: string;
}

/** Connects and logs in `count` clients, a few at a time. */
async function connectAll(ferry: FerryPeer, count: number, errors: string[]): Promise<FerryClient[]> {
  const clients: FerryClient[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      try {
        const client = await FerryClient.connect(ferry.address(`127.0.0.${10 + (index % SOURCE_ADDRESSES)}`));
        try {
          await client.login(ferry.user, ferry.password);
        } catch (error) {
          client.close();
          throw error;
        }
        clients.push(client);
      } catch (error) {
        errors.push(`client ${index}: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: LOGINS_IN_FLIGHT }, lane));
  return clients;
}

/** One measured window: every client stats the probe every interval, at a random phase, and checks the answer. */
async function measure(clients: FerryClient[], probe: Probe, intervalMs: number, windowMs: number, pid: number, errors: string[]): Promise<Window> {
  const latencies: number[] = [];
  let failed = 0;
  let wrong = 0;
  const sampler = new MemorySampler(pid, 100);
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const serverCpuBefore = treeCpuSeconds(pid);
  const generatorCpuBefore = process.cpuUsage();
  const begin = performance.now();
  const end = begin + windowMs;
  await Promise.all(
    clients.map(async (client) => {
      let due = begin + Math.random() * intervalMs;
      for (;;) {
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        const sent = performance.now();
        if (sent >= end) return;
        try {
          const entry = await client.stat(probe.path);
          latencies.push(performance.now() - sent);
          if (entry.size !== probe.size || entry.sha256 !== probe.sha256) wrong++;
        } catch (error) {
          failed++;
          if (errors.length < 20) errors.push((error as Error).message);
        }
        due = Math.max(due + intervalMs, performance.now());
      }
    }),
  );
  const elapsed = performance.now() - begin;
  const serverCores = (treeCpuSeconds(pid) - serverCpuBefore) / (elapsed / 1000);
  const generatorCpu = process.cpuUsage(generatorCpuBefore);
  const generatorCores = (generatorCpu.user + generatorCpu.system) / 1000 / elapsed;
  const peak = sampler.stop();
  lag.disable();
  const sorted = Float64Array.from(latencies).sort();
  return {
    opsPerSecond: latencies.length / (elapsed / 1000),
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
    errors: failed,
    wrong,
    peak,
    generatorLagP99: lag.percentile(99) / 1e6,
    serverCores,
    generatorCores,
  };
}

export const w6: Workload = {
  id: 'W6',
  title: 'many clients connected and logged in, each running `stat` every 100 ms',
  async run(lab: Lab): Promise<Section> {
    const { statClients, statIntervalMs, statWindowMs } = lab.options.sizes;
    const probe = await lab.probeFile();
    const ferry = await lab.ferry('cluster');
    await lab.stage(ferry, probe);
    const target: Probe = { path: `/stage/${basename(probe.path)}`, size: probe.bytes, sha256: probe.digests.get('.') ?? '' };
    const errors: string[] = [];
    const loginSampler = new MemorySampler(ferry.server.pid, 100);
    const loginBegan = performance.now();
    const clients = await connectAll(ferry, statClients, errors);
    const loginPeak = loginSampler.stop();
    const connectErrors = statClients - clients.length;
    lab.log(`W6: ${clients.length}/${statClients} clients logged in in ${Math.round((performance.now() - loginBegan) / 1000)} s`);
    if (connectErrors > 0) lab.log(`W6: ${connectErrors} clients could not connect or log in: ${errors.slice(0, 3).join(' / ')}`);
    const windows: Window[] = [];
    try {
      for (let run = 1; run <= lab.options.runs; run++) {
        const window = await measure(clients, target, statIntervalMs, statWindowMs, ferry.server.pid, errors);
        windows.push(window);
        lab.log(`W6 run ${run}/${lab.options.runs}: ${figure(window.opsPerSecond)} ops/s, p99 ${figure(window.p99)} ms, ${window.errors} errors, RSS ${figure(window.peak.totalMB)} MB`);
        if (window.errors > 0) lab.log(`W6 run ${run}: ${window.errors} stat requests failed: ${errors.slice(-3).join(' / ')}`);
        if (window.wrong > 0) lab.fail(`W6 run ${run}: ${window.wrong} stat answers gave another size or SHA-256 than the file's`);
      }
    } finally {
      await Promise.all(clients.map((client) => client.quit()));
    }
    const errorsInAll = connectErrors + windows.reduce((sum, window) => sum + window.errors, 0);
    const p99 = spread(windows.map((window) => window.p99));
    const rssDuringStats = Math.max(...windows.map((window) => window.peak.totalMB));
    const rssInAll = Math.max(rssDuringStats, loginPeak.totalMB);
    const largest = Math.max(loginPeak.largestProcessMB, ...windows.map((window) => window.peak.largestProcessMB));
    const ms = (value: number) => figure(value);
    const rows = [
      ['clients logged in', `${clients.length} of ${statClients}`],
      ['stat per client', `every ${statIntervalMs} ms for ${statWindowMs / 1000} s, ${lab.options.runs} window${lab.options.runs > 1 ? 's' : ''}`],
      ['ops/s asked for (clients x 1000 / interval)', figure((clients.length * 1000) / statIntervalMs)],
      ['ops/s done', spreadText(spread(windows.map((window) => window.opsPerSecond)), figure)],
      ['latency p50 (ms)', spreadText(spread(windows.map((window) => window.p50)), ms)],
      ['latency p99 (ms)', spreadText(p99, ms)],
      ['latency max (ms)', spreadText(spread(windows.map((window) => window.max)), ms)],
      ['errors', String(errorsInAll)],
      ['CPU of the server, cores busy (primary + workers)', spreadText(spread(windows.map((window) => window.serverCores)), figure)],
      ['server CPU per stat (µs)', spreadText(spread(windows.map((window) => (window.serverCores * 1e6) / window.opsPerSecond)), figure)],
      ['CPU of the load generator, cores busy (bench process)', spreadText(spread(windows.map((window) => window.generatorCores)), figure)],
      ['load generator event-loop delay p99 (ms)', spreadText(spread(windows.map((window) => window.generatorLagP99)), ms)],
      ['peak server RSS during the stats (MB, primary + workers)', figure(rssDuringStats)],
      [`peak server RSS including the logins, ${LOGINS_IN_FLIGHT} at a time (MB)`, figure(rssInAll)],
      ['largest single process (MB)', figure(largest)],
    ];
    const bars = [
      {
        workload: 'W6',
        bar: `p99 < ${P99_BAR_MS} ms at the ${figure((statClients * 1000) / statIntervalMs)} stat/s asked`,
        measured: `${ms(p99.median)} ms (${figure(spread(windows.map((window) => window.opsPerSecond)).median)} stat/s done)`,
        met: p99.median < P99_BAR_MS,
      },
      { workload: 'W6', bar: 'no error', measured: String(errorsInAll), met: errorsInAll === 0 },
      {
        workload: 'W6',
        bar: `server RSS < ${RSS_BAR_MB} MB`,
        measured: `${figure(rssDuringStats)} MB during the stats (${figure(rssInAll)} MB with ${LOGINS_IN_FLIGHT} logins at once)`,
        met: rssDuringStats < RSS_BAR_MB,
      },
    ];
    const markdown = [
      `## W6: ${this.title}`,
      '',
      'Client library (`FerryClient`) in the bench process, default cluster; values are median [min-max] over the windows.',
      '',
      table(['measure', 'value'], rows, ['l', 'r']),
      '',
      `Bars: p99 < ${P99_BAR_MS} ms ${metText(bars[0]?.met)}; no error ${metText(bars[1]?.met)}; RSS < ${RSS_BAR_MB} MB ${metText(bars[2]?.met)}.`,
      '',
    ].join('\n');
    return { id: 'W6', markdown, bars };
  },
};

if (isMain(import.meta.url)) await runBench([w6], process.argv.slice(2));
