/** The results as Markdown: a section per workload, and the bars (bench/README.md) checked against them. */

import type { Lab } from './lab.js';
import type { Spread } from './statistics.js';

export interface BarCheck {
  workload: string;
  bar: string;
  measured: string;
  /** Undefined when the figure is missing (a skipped peer, a failed run). */
  met: boolean | undefined;
  /** A goal beyond the bar: a miss reads "not yet". */
  moonshot?: boolean;
}

export interface Section {
  id: string;
  markdown: string;
  bars: BarCheck[];
}

export interface Workload {
  id: string;
  title: string;
  run(lab: Lab): Promise<Section>;
}

/** A figure with sensible precision: 1234, 123, 12.3, 1.23. */
export function figure(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ratio(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '-' : `${value.toFixed(2)}x`;
}

/** "median [min-max]" of a spread, each through `format`. */
export function spreadText(spread: Spread | undefined, format: (value: number) => string): string {
  if (!spread) return '-';
  return spread.runs === 1 ? format(spread.median) : `${format(spread.median)} [${format(spread.min)}-${format(spread.max)}]`;
}

export function table(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly ('l' | 'r')[]): string {
  const rule = header.map((_, i) => ((align?.[i] ?? 'l') === 'r' ? '---:' : '---'));
  return [header, rule, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

export function metText(met: boolean | undefined): string {
  return met === undefined ? 'n/a' : met ? 'met' : 'NOT met';
}

export function barsSection(checks: readonly BarCheck[]): string {
  const rows = checks.map((check) => [check.workload, check.bar, check.measured, check.moonshot && check.met === false ? 'not yet' : metText(check.met)]);
  return `## Bars (bench/README.md), from the medians above\n\n${table(['workload', 'bar', 'measured', 'verdict'], rows)}\n`;
}
