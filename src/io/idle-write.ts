/**
 * "Write what you hold once nothing new has come for a moment": both file writers
 * keep data back to write it in large pieces, and a sender that pauses (or was
 * killed) must not leave it in memory. One timer per writer, re-armed by the time
 * since the last data rather than reset on every chunk.
 */

/** Data held this long with nothing new is written as it is. */
const IDLE_WRITE_MS = 20;

export class IdleWrite {
  private timer: NodeJS.Timeout | undefined;
  private last = 0;

  /** `holding` says whether anything waits; `write` writes it. */
  constructor(
    private readonly holding: () => boolean,
    private readonly write: () => void,
  ) {}

  /** New data was held back just now. */
  touch(): void {
    this.last = performance.now();
    if (this.timer !== undefined) return;
    const check = (): void => {
      const idleFor = performance.now() - this.last;
      if (!this.holding()) this.timer = undefined;
      else if (idleFor < IDLE_WRITE_MS) this.timer = setTimeout(check, IDLE_WRITE_MS - idleFor).unref();
      else {
        this.timer = undefined;
        this.write();
      }
    };
    this.timer = setTimeout(check, IDLE_WRITE_MS).unref();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
