/**
 * Waiting with a deadline whose timer never outlives the wait (a pending timer
 * would keep a stopping process alive).
 */

export const EXPIRED = Symbol('expired');

/** Resolves with `work`'s value, or EXPIRED once `ms` pass first. */
export async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T | typeof EXPIRED> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<typeof EXPIRED>((resolve) => {
    timer = setTimeout(() => resolve(EXPIRED), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
