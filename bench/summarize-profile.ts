/**
 * Self time per function of a V8 .cpuprofile (as written by `node --cpu-prof`, or
 * by the bench with `--cpu-prof DIR`), best first:
 *
 *   node dist/bench/summarize-profile.js FILE [TOP] [LAST_SECONDS]
 *
 * LAST_SECONDS keeps only the samples of the profile's last seconds (a server
 * profile covers its whole life; the workload is its end). "(idle)" is time the
 * main thread waited in the event loop; a native binding (lstat, writeBuffer)
 * includes the time the thread lost to the kernel while dispatching it.
 */

import { readFile } from 'node:fs/promises';
import { isMain } from './lib/bench.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
  share: number;
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url === '' ? '' : ` ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
  return `${functionName === '' ? '(anonymous)' : functionName}${where}`;
}

/** Self time per function over the profile, or over its last `lastSeconds`. */
export function selfTimes(profile: CpuProfile, lastSeconds?: number): { totalMs: number; functions: SelfTime[] } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const from = lastSeconds === undefined ? -Infinity : profile.endTime - lastSeconds * 1e6;
  const micros = new Map<string, number>();
  let time = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    time += profile.timeDeltas[i] ?? 0;
    // A sample lasts until the next one.
    const lasted = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(profile.samples[i] ?? -1);
    if (time < from || node === undefined) continue;
    const name = label(node);
    micros.set(name, (micros.get(name) ?? 0) + lasted);
    total += lasted;
  }
  const functions = [...micros]
    .map(([name, us]) => ({ name, ms: us / 1000, share: total > 0 ? us / total : 0 }))
    .sort((a, b) => b.ms - a.ms);
  return { totalMs: total / 1000, functions };
}

if (isMain(import.meta.url)) {
  const [file, top = '15', last] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: summarize-profile FILE [TOP] [LAST_SECONDS]');
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const { totalMs, functions } = selfTimes(profile, last === undefined ? undefined : Number(last));
  console.log(`${Math.round(totalMs)} ms sampled`);
  for (const { name, ms, share } of functions.slice(0, Number(top))) {
    console.log(`${(100 * share).toFixed(1).padStart(5)}%  ${Math.round(ms).toString().padStart(6)} ms  ${name}`);
  }
}
