/**
 * Waiting for the signals that stop the service, installed before start-up so a
 * stop that arrives early still drains.
 */

export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    for (const name of ['SIGTERM', 'SIGINT'] as const) process.once(name, () => resolve(name));
  });
}

/**
 * SIGHUP's default action ends the process at once, without a drain: it is taken
 * from the very start of the process, doing `early` until the returned function
 * gives it its real work.
 */
export function hangupSignal(early: () => void): (handler: () => void) => void {
  let handle = early;
  process.on('SIGHUP', () => handle());
  return (handler) => {
    handle = handler;
  };
}
