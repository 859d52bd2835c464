/**
 * A connection's uploads still committing, and the order their answers keep.
 *
 * An upload's commit (fsync, rename) runs while the client's next requests
 * arrive; its answer still goes out in request order, once the commit is done
 * and every earlier answer is out. Only an upload to an unrelated path may
 * start before earlier commits are done: any other request waits for them, as
 * if one request ran after the other (a client reads its own writes). A failed
 * commit is answered with its error in its turn and holds up no later answer;
 * an answer that cannot be sent (the client left) does not either, since the
 * file is in place all the same.
 */

import { asFerryError, type FerryError } from '../protocol/errors.js';

/** Sends a commit's answer: OK, or `failure` when the commit failed. */
type CommitAnswer = (failure: FerryError | undefined) => Promise<void>;

export class CommitQueue {
  /** Answers of uploads still committing, chained in request order; never rejects. */
  private answers: Promise<void> = Promise.resolve();
  private pending = 0;
  /** Canonical paths of the uploads still committing, with how many of each. */
  private readonly paths = new Map<string, number>();

  /** `maxPending`: commits that may run at once (their fsyncs overlap in the thread pool). */
  constructor(private readonly maxPending: number) {}

  /** Resolves once every answer queued so far is sent (or could not be). */
  settled(): Promise<void> {
    return this.answers;
  }

  /**
   * Whether an upload to `path` (canonical; undefined when it does not parse)
   * may start before the commits queued so far are done: not when too many are
   * pending, nor when it is, contains or lies in a path still committing.
   */
  mayOvertake(path: string | undefined): boolean {
    return this.pending < this.maxPending && !this.touches(path);
  }

  /** Queues the answer of the upload to `path` whose commit is `commit`, behind the answers before it. */
  add(path: string, commit: Promise<void>, answer: CommitAnswer): void {
    this.pending++;
    this.paths.set(path, (this.paths.get(path) ?? 0) + 1);
    const settled = commit.then(
      () => undefined,
      (error: unknown) => asFerryError(error),
    );
    this.answers = this.answers.then(async () => {
      const failure = await settled;
      this.pending--;
      const left = (this.paths.get(path) ?? 1) - 1;
      if (left > 0) this.paths.set(path, left);
      else this.paths.delete(path);
      await answer(failure).catch(() => undefined);
    });
  }

  private touches(path: string | undefined): boolean {
    if (path === undefined) return false;
    for (const pending of this.paths.keys()) {
      if (pending === path || pending.startsWith(`${path}/`) || path.startsWith(`${pending}/`)) return true;
    }
    return false;
  }
}
