/** What the kernel says about a process and its children, from /proc. */

import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

function statFields(pid: number): string[] | undefined {
  try {
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are plain.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // Gone.
  }
}

/** VmRSS of a process, in bytes (0 when it is gone). */
export function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) a process has used so far, in seconds. */
function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  // utime and stime are fields 14 and 15 of /proc/<pid>/stat; here they sit at 11 and 12.
  return fields ? (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND : 0;
}

/**
 * CPU time (user + system) of a process plus that of every child it has reaped
 * (cutime + cstime, which hold the reaped children's own reaped children too), in seconds.
 */
function cpuWithReapedSeconds(fields: string[]): number {
  // utime, stime, cutime, cstime are fields 14-17 of /proc/<pid>/stat; here they sit at 11-14.
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
}

/** Parent pid and stat fields of every process now, from one scan of /proc. */
function processTable(): Map<number, string[]> {
  const table = new Map<number, string[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(Number(name));
    if (fields) table.set(Number(name), fields);
  }
  return table;
}

export interface TreeCpu {
  /** CPU seconds of the tree so far: live processes and every child they reaped. */
  seconds: number;
  /** The descendants alive at the time (not the root). */
  descendants: Set<number>;
}

/**
 * CPU seconds used so far by a process tree, counting the children that already
 * exited and were reaped inside it (a daemon's per-connection child): each live
 * process contributes its own time and its reaped children's. The difference of two
 * readings is the tree's CPU between them, provided no child exited unreaped between
 * (see settledTreeCpu).
 */
export function treeCpu(root: number): TreeCpu {
  const table = processTable();
  const children = new Map<number, number[]>();
  for (const [pid, fields] of table) {
    const parent = Number(fields[1]);
    children.set(parent, [...(children.get(parent) ?? []), pid]);
  }
  let seconds = 0;
  const descendants = new Set<number>();
  const pending = [root];
  while (pending.length > 0) {
    const pid = pending.pop() as number;
    const fields = table.get(pid);
    if (!fields) continue;
    seconds += cpuWithReapedSeconds(fields);
    if (pid !== root) descendants.add(pid);
    pending.push(...(children.get(pid) ?? []));
  }
  return { seconds, descendants };
}

/**
 * The tree's CPU once the processes forked since `before` have ended and been reaped
 * (a daemon's child for the connection outlives its client by a moment), waiting at
 * most `timeoutMs`; a child still alive then is counted as it stands.
 */
export async function settledTreeCpu(root: number, before: TreeCpu, timeoutMs = 5000): Promise<TreeCpu> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = treeCpu(root);
    const newcomers = [...now.descendants].filter((pid) => !before.descendants.has(pid));
    if (newcomers.length === 0 || Date.now() > deadline) return now;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (/^\d+$/.test(name) && Number(statFields(Number(name))?.[1]) === pid) children.push(Number(name));
  }
  return children;
}

/** CPU seconds used so far by a process and its children alive now. */
export function treeCpuSeconds(pid: number): number {
  return [pid, ...childrenOf(pid)].reduce((sum, each) => sum + cpuSeconds(each), 0);
}
