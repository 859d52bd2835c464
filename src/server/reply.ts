/**
 * How a request's outcome (outcome.ts) becomes its answer on the wire, its
 * transfer log line and metric, and its audit line. Answers keep request order:
 * an upload's OK waits in the commit queue for its commit, and every other
 * answer goes out only once the answers queued before it have.
 */

import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { ErrorCode, FerryError } from '../protocol/errors.js';
import { FrameType } from '../protocol/frames.js';
import type { Request } from '../protocol/messages.js';
import { clientText } from '../log/logger.js';
import type { FrameChannel } from '../transport/channel.js';
import { auditChange, type Actor } from './audit.js';
import type { CommitQueue } from './commit-queue.js';
import { sendError } from './error-reply.js';
import { failed, type Failure, type Outcome } from './outcome.js';
import type { SessionObserver, TransferResult } from './session.js';
import { refuseUpload } from './upload.js';

/** What a request is known by in the log once it ends. */
interface RequestDone {
  id: number;
  request: Request;
  /** The canonical path an upload writes, if it parses. */
  uploadPath: string | undefined;
  /** performance.now() when it began. */
  started: number;
}

function transferDirection(op: Request['op']): 'upload' | 'download' | undefined {
  return op === 'put' || op === 'putStream' ? 'upload' : op === 'get' ? 'download' : undefined;
}

/**
 * The transfer a failed request counts as: its own, or a download that failed
 * before it began when the stat a client sends to plan one fails (a missing name).
 */
function failedTransferDirection(request: Request): 'upload' | 'download' | undefined {
  return transferDirection(request.op) ?? (request.op === 'stat' && request.download ? 'download' : undefined);
}

export class Replies {
  constructor(
    private readonly channel: FrameChannel,
    private readonly commits: CommitQueue,
    private readonly logger: Logger,
    private readonly observer: SessionObserver,
    /** Who is asking, as the log names them (the user may log in meanwhile). */
    private readonly actor: () => Actor,
  ) {}

  /** Answers, logs and audits a request that ended with `outcome`; throws when the connection failed under it. */
  async conclude(done: RequestDone, outcome: Outcome): Promise<void> {
    const { id, request } = done;
    const end = outcome.kind === 'answer' ? await this.answer(id, outcome.answer, outcome.bytes) : outcome;
    switch (end.kind) {
      case 'sent': {
        const direction = transferDirection(request.op);
        if (direction) this.logTransfer(done, direction, 'ok', end.bytes);
        auditChange(this.logger, this.actor(), request);
        break;
      }
      case 'committing':
        this.answerLater(done, end);
        auditChange(this.logger, this.actor(), request);
        break;
      default:
        await this.fail(done, end);
    }
  }

  /** Answers `error` once the answers before it are out; for an upload, also drops its data. */
  async refuseNow(id: number, error: FerryError, carriesData: boolean): Promise<void> {
    await this.commits.settled();
    if (carriesData) await refuseUpload(this.channel, id, error);
    else await sendError(this.channel, id, error);
  }

  /** A refusal answered at once, as an outcome (a broken connection makes it a failure of its own). */
  async refused(id: number, error: FerryError, carriesData: boolean): Promise<Outcome> {
    try {
      await this.refuseNow(id, error, carriesData);
      return { kind: 'refused', error, answered: true, reason: error, bytes: 0 };
    } catch (thrown) {
      return failed(thrown, 0);
    }
  }

  /** Sends a request's OK; a connection that broke meanwhile makes it an outcome like any failure. */
  private async answer(id: number, answer: object, bytes: number): Promise<Outcome & { kind: 'sent' | Failure['kind'] }> {
    try {
      await this.channel.sendJson(FrameType.OK, id, answer);
      return { kind: 'sent', bytes };
    } catch (error) {
      return failed(error, bytes);
    }
  }

  /** Logs a failed request and answers it, unless its connection is what failed: then that ends the session. */
  private async fail(done: RequestDone, outcome: Failure): Promise<void> {
    const { error } = outcome;
    const failedAs = failedTransferDirection(done.request);
    if (failedAs) this.logTransfer(done, failedAs, error.code === 'CONNECTION_LOST' ? 'aborted' : 'error', outcome.bytes, error.code);
    auditChange(this.logger, this.actor(), done.request, error.code);
    if (outcome.kind === 'aborted') throw error;
    if (error.code === 'INTERNAL') this.logger.error({ err: outcome.reason, remote: this.actor().remote }, 'request failed');
    if (!outcome.answered) {
      await this.commits.settled();
      await sendError(this.channel, done.id, error);
    }
  }

  /** Queues the answer of an upload still committing behind the answers before it. */
  private answerLater(done: RequestDone, outcome: Outcome & { kind: 'committing' }): void {
    this.commits.add(done.uploadPath ?? '', outcome.commit, async (failure) => {
      this.logTransfer(done, 'upload', failure ? 'error' : 'ok', outcome.bytes, failure?.code);
      if (failure?.code === 'INTERNAL') this.logger.error({ err: failure.cause, remote: this.actor().remote }, 'commit failed');
      // A closed connection: the file is in place all the same (the queue goes on).
      if (failure) await sendError(this.channel, done.id, failure);
      else await this.channel.sendJson(FrameType.OK, done.id, outcome.answer);
    });
  }

  private logTransfer(done: RequestDone, direction: 'upload' | 'download', result: TransferResult, bytes: number, code?: ErrorCode): void {
    const { request } = done;
    const seconds = (performance.now() - done.started) / 1000;
    const actor = this.actor();
    this.observer.transfer({ direction, result, bytes, seconds, code });
    this.logger.info(
      {
        event: 'transfer',
        direction,
        user: actor.user,
        remote: actor.remote,
        path: 'path' in request ? clientText(request.path) : undefined,
        bytes,
        durationMs: Math.round(seconds * 1000),
        result,
        code,
      },
      `${direction} ${result}`,
    );
  }
}
