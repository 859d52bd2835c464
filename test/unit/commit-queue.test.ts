import test from 'ava';
import { ferryError, type FerryError } from '../../src/protocol/errors.js';
import { CommitQueue } from '../../src/server/commit-queue.js';

/** A commit the test finishes by hand. */
function commit(): { promise: Promise<void>; done: () => void; fail: (error: unknown) => void } {
  let done!: () => void;
  let fail!: (error: unknown) => void;
  const promise = new Promise<void>((resolve, reject) => {
    done = resolve;
    fail = reject;
  });
  return { promise, done, fail };
}

/** Lets every queued promise callback run. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('answers go out in request order even when later commits finish first', async (t) => {
  const queue = new CommitQueue(64);
  const sent: string[] = [];
  const commits = ['/a', '/b', '/c'].map((path) => {
    const c = commit();
    queue.add(path, c.promise, async (failure) => {
      sent.push(`${path} ${failure?.code ?? 'OK'}`);
    });
    return c;
  });
  commits[2]!.done();
  commits[1]!.done();
  await turn();
  t.deepEqual(sent, [], 'nothing goes out before the first commit is done');
  commits[0]!.done();
  await queue.settled();
  t.deepEqual(sent, ['/a OK', '/b OK', '/c OK']);
});

test('a commit that fails in the middle is answered with its error in its turn and holds up no later answer', async (t) => {
  const queue = new CommitQueue(64);
  const sent: string[] = [];
  const failures: (FerryError | undefined)[] = [];
  for (const [path, outcome] of [
    ['/a', Promise.resolve()],
    ['/b', Promise.reject(ferryError('NO_SPACE', 'the disk is full'))],
    ['/c', Promise.reject(new Error('EIO from somewhere unexpected'))],
    ['/d', Promise.resolve()],
  ] as const) {
    queue.add(path, outcome, async (failure) => {
      sent.push(`${path} ${failure?.code ?? 'OK'}`);
      failures.push(failure);
    });
  }
  await queue.settled();
  t.deepEqual(sent, ['/a OK', '/b NO_SPACE', '/c INTERNAL', '/d OK']);
  t.is(failures[1]?.message, 'the disk is full', 'the refusal keeps its message');
  t.regex(String((failures[2]?.cause as Error).message), /EIO/, 'an unexpected failure is INTERNAL, its cause kept for the log');
});

test('an answer that cannot be sent (the client left) does not stop the answers after it, and settled() still resolves', async (t) => {
  const queue = new CommitQueue(64);
  const sent: string[] = [];
  queue.add('/a', Promise.resolve(), async () => {
    throw ferryError('CONNECTION_LOST', 'the connection is closed');
  });
  queue.add('/b', Promise.resolve(), async () => {
    sent.push('/b');
  });
  await t.notThrowsAsync(queue.settled());
  t.deepEqual(sent, ['/b']);
  t.true(queue.mayOvertake('/a'), 'a commit whose answer was lost no longer holds its path');
});

test('settled() waits for every answer queued so far, and resolves at once with none', async (t) => {
  const queue = new CommitQueue(64);
  await t.notThrowsAsync(queue.settled());
  const c = commit();
  let answered = false;
  queue.add('/a', c.promise, async () => {
    answered = true;
  });
  let settled = false;
  void queue.settled().then(() => (settled = true));
  await turn();
  t.false(settled, 'not while the commit runs');
  c.done();
  await queue.settled();
  t.true(answered);
  t.true(settled);
});

test('an upload may overtake commits to unrelated paths only: not the same path, a folder holding one, or a path inside one', async (t) => {
  const queue = new CommitQueue(64);
  const c = commit();
  queue.add('/docs/report.pdf', c.promise, async () => undefined);
  t.false(queue.mayOvertake('/docs/report.pdf'), 'the same path');
  t.false(queue.mayOvertake('/docs'), 'the folder that holds it');
  t.false(queue.mayOvertake('/docs/report.pdf/x'), 'a path inside it');
  t.true(queue.mayOvertake('/docs/report.pdf.bak'), 'a name that only starts the same');
  t.true(queue.mayOvertake('/other'), 'an unrelated path');
  t.true(queue.mayOvertake(undefined), 'a path that does not parse is refused by its handler, not held here');
  c.done();
  await queue.settled();
  t.true(queue.mayOvertake('/docs/report.pdf'), 'free once the commit is answered');
});

test('a path committing twice stays held until both commits are answered', async (t) => {
  const queue = new CommitQueue(64);
  const first = commit();
  const second = commit();
  queue.add('/a', first.promise, async () => undefined);
  queue.add('/a', second.promise, async () => undefined);
  first.done();
  await turn();
  t.false(queue.mayOvertake('/a'), 'the second is still committing');
  second.done();
  await queue.settled();
  t.true(queue.mayOvertake('/a'));
});

test('no upload overtakes once the most commits allowed at once are pending', async (t) => {
  const queue = new CommitQueue(2);
  const commits = [commit(), commit()];
  queue.add('/a', commits[0]!.promise, async () => undefined);
  t.true(queue.mayOvertake('/z'), 'one pending of two');
  queue.add('/b', commits[1]!.promise, async () => undefined);
  t.false(queue.mayOvertake('/z'), 'two pending of two');
  commits[0]!.done();
  await turn();
  t.true(queue.mayOvertake('/z'), 'one answered');
  commits[1]!.done();
  await queue.settled();
});
