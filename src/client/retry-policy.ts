/**
 * How a client rides out a server that goes away for a while (a restart, a
 * reload, a container stop and start): each retry waits twice as long as the one
 * before, from FIRST_DELAY_MS up to MAX_DELAY_MS, moved by up to a quarter either
 * way at random so that the many clients one restart cuts off do not all come
 * back in the same instant.
 *
 * With DEFAULT_RETRIES the waits add up to between about 42 and 70 seconds: more
 * than a server's drain (30 s by default: the port closes at once, transfers in
 * flight finish) plus its start, so an operator's restart costs a pause, not a
 * failed command.
 */

export const DEFAULT_RETRIES = 10;
const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 10_000;
const JITTER = 0.25;

function baseDelayMs(retry: number): number {
  return Math.min(FIRST_DELAY_MS * 2 ** retry, MAX_DELAY_MS);
}

/** The wait before retry number `retry` (0 for the first); `random` gives a number in [0, 1). */
export function retryDelayMs(retry: number, random: () => number = Math.random): number {
  return Math.round(baseDelayMs(retry) * (1 - JITTER + 2 * JITTER * random()));
}

/** The shortest and longest time `retries` retries wait in all. */
export function retryBudgetMs(retries: number): { min: number; max: number } {
  let total = 0;
  for (let retry = 0; retry < retries; retry++) total += baseDelayMs(retry);
  return { min: Math.round(total * (1 - JITTER)), max: Math.round(total * (1 + JITTER)) };
}
