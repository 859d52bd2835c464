/**
 * Reading a Prometheus text exposition in tests.
 */

/** Sums every sample of `name` whose labels include all of `labels`. */
export function sumSamples(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = match[2] ?? '';
    if (Object.entries(labels).every(([key, value]) => present.includes(`${key}="${value}"`))) total += Number(match[3]);
  }
  return total;
}

export async function scrape(opsPort: number, token?: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${opsPort}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  return response.text();
}
