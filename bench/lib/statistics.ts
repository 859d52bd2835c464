/** Summaries of repeated measurements: median with min and max. */

export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export function spread(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), runs: values.length };
}

/**
 * Ratios of paired runs (run i of one against run i of the other, measured back to
 * back so they shared the machine's mood), summarised. Pairs missing on either side
 * are left out.
 */
export function pairedRatios(numerators: readonly (number | undefined)[], denominators: readonly (number | undefined)[]): Spread | undefined {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(numerators.length, denominators.length); i++) {
    const top = numerators[i];
    const bottom = denominators[i];
    if (top !== undefined && bottom !== undefined && bottom > 0) ratios.push(top / bottom);
  }
  return ratios.length === 0 ? undefined : spread(ratios);
}

/** The value at quantile `q` (0..1) of sorted values, nearest rank. */
export function quantile(sorted: Float64Array | readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}
