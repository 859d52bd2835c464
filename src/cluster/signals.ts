/**
 * Waiting for the signals that stop the service, installed before start-up so a
 * stop that arrives early still drains.
 */

export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    for (const name of ['SIGTERM', 'SIGINT'] as const) process.once(name, () => resolve(name));
  });
}
