/**
 * One session per connection: handshake, login, then requests in the order they
 * arrive (a client may pipeline many without waiting), each served to its outcome
 * (commands.ts) and answered in order (reply.ts). Independent of the process
 * model: the same session runs in a single process or in a cluster worker.
 */

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { LoginGuard } from '../auth/bans.js';
import { sourceKey } from '../auth/source.js';
import { credentialOf, type UserDirectory, type User } from '../auth/users.js';
import { authenticate, openHome, revocation } from './authenticate.js';
import type { RefusalLog } from '../log/refusal-log.js';
import { type FerryError, asFerryError, ferryError, type ErrorCode } from '../protocol/errors.js';
import { FrameType, PRE_AUTH_FRAME_LIMIT } from '../protocol/frames.js';
import type { LoginResult } from '../protocol/messages.js';
import { formatRemotePath, parseRemotePath } from '../protocol/paths.js';
import type { HomeStorage, Storage } from '../storage/index.js';
import { withDeadline } from '../io/deadline.js';
import { FrameChannel } from '../transport/channel.js';
import { Throttle } from './throttle.js';
import { auditLogin, type Actor } from './audit.js';
import { perform } from './commands.js';
import { CommitQueue } from './commit-queue.js';
import { welcome } from './handshake.js';
import { sendError } from './error-reply.js';
import type { CommandContext, CommandLimits } from './handler.js';
import { failed, type Outcome } from './outcome.js';
import { readRequest, type ParsedRequest } from './request-frame.js';
import { Replies } from './reply.js';

/** How long a timed-out connection's last words may take to flush before it is closed. */
const ABORT_FLUSH_MS = 1_000;

/** How long a connection we ended waits for the client to end its side too. */
const LINGER_MS = 1_000;

/** Uploads whose commits may run at once on one connection (fsyncs overlap in the thread pool). */
const MAX_PENDING_COMMITS = 64;

export interface SessionLimits extends CommandLimits {
  authTimeoutMs: number;
  /** Pause before answering a failed login. */
  authFailureDelayMs: number;
  /** Bytes a user's home may hold unless the users file says otherwise (0: no limit). */
  defaultQuota: number;
  /** Files and folders a user's home may hold (0: no limit). */
  maxEntries: number;
  /** Bytes per second one connection may move (0: no limit). */
  bandwidthLimit: number;
  idleTimeoutMs: number;
  maxFrameBytes: number;
}

export type TransferResult = 'ok' | 'error' | 'aborted';

export interface TransferRecord {
  direction: 'upload' | 'download';
  result: TransferResult;
  bytes: number;
  seconds: number;
  /** Why it failed; none for a transfer that succeeded. */
  code?: ErrorCode;
}

/** What the server reports about its connections (metrics hook in here). */
export interface SessionObserver {
  connectionOpened(): void;
  connectionClosed(): void;
  auth(result: 'success' | 'failure' | 'banned'): void;
  transfer(record: TransferRecord): void;
}

export const NO_OBSERVER: SessionObserver = {
  connectionOpened: () => undefined,
  connectionClosed: () => undefined,
  auth: () => undefined,
  transfer: () => undefined,
};

export interface SessionContext {
  storage: Storage;
  users: UserDirectory;
  guard: LoginGuard;
  logger: Logger;
  limits: SessionLimits;
  observer: SessionObserver;
  agent: string;
  /** Where refused logins are tallied for the log; without it they are not logged. */
  refusals?: RefusalLog;
}

export class Session {
  private readonly channel: FrameChannel;
  private readonly remote: string;
  private user: User | undefined;
  /** The credential the user logged in with: when it changes, the session ends. */
  private credential = '';
  private home: HomeStorage | undefined;
  private idle = false;
  private draining = false;
  private requests = 0;
  private failure: FerryError | undefined;
  private readonly throttle: Throttle;
  private readonly commits = new CommitQueue(MAX_PENDING_COMMITS);
  private readonly replies: Replies;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: SessionContext,
  ) {
    // A stranger gets a few KiB per frame; the full limit comes with the login.
    this.channel = new FrameChannel(socket, { maxFrameBytes: Math.min(PRE_AUTH_FRAME_LIMIT, ctx.limits.maxFrameBytes) });
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.throttle = new Throttle(ctx.limits.bandwidthLimit);
    this.replies = new Replies(this.channel, this.commits, ctx.logger, ctx.observer, () => this.actor());
  }

  /** Serves the connection until it closes; never throws. */
  async run(): Promise<void> {
    const started = performance.now();
    const authTimer = setTimeout(
      () => this.abort(ferryError('TIMEOUT', `no login within ${this.ctx.limits.authTimeoutMs} ms; connect and log in again`)),
      this.ctx.limits.authTimeoutMs,
    );
    this.socket.setTimeout(this.ctx.limits.idleTimeoutMs, () =>
      this.abort(ferryError('TIMEOUT', `the connection was idle for ${this.ctx.limits.idleTimeoutMs} ms and was closed`)),
    );
    this.socket.setNoDelay(true);
    try {
      await this.handshake();
      while (!this.draining) {
        this.idle = true;
        const frame = await this.channel.next();
        this.idle = false;
        if (frame === undefined) break;
        if (frame.type !== FrameType.REQUEST) {
          throw ferryError('BAD_FRAME', `expected a request, got frame type ${frame.type} for request ${frame.id}`);
        }
        this.requests++;
        await this.followUserChanges();
        const parsed = readRequest(frame);
        // Only uploads to unrelated paths overtake earlier commits; anything else sees
        // them done, as if one request ran after the other (read your writes).
        if (!(parsed.request && parsed.carriesData && this.commits.mayOvertake(parsed.uploadPath))) await this.commits.settled();
        const keepGoing = await this.serve(frame.id, parsed);
        if (this.user) clearTimeout(authTimer);
        if (!keepGoing) break;
      }
      await this.commits.settled();
      await this.channel.close(LINGER_MS);
    } catch (error) {
      await this.commits.settled();
      const failure = this.failure ?? asFerryError(error);
      this.failure = failure;
      if (failure.code !== 'CONNECTION_LOST') {
        await sendError(this.channel, 0, failure).catch(() => undefined);
        await this.channel.end().catch(() => undefined);
      }
      this.channel.destroy();
    } finally {
      clearTimeout(authTimer);
      this.ctx.logger.info(
        {
          event: 'connection',
          remote: this.remote,
          user: this.user?.name,
          requests: this.requests,
          durationMs: Math.round(performance.now() - started),
          result: this.failure ? 'error' : 'ok',
          code: this.failure?.code,
        },
        'connection closed',
      );
    }
  }

  /** Stops taking requests: closes an idle connection now, a busy one after its request. */
  drain(): void {
    this.draining = true;
    if (this.idle) this.channel.destroy();
  }

  /** The users file changed: a removed user or a new password ends the session now. */
  reviewUser(): void {
    const revoked = this.revocation();
    if (revoked && !this.failure) this.abort(revoked);
  }

  private revocation(): FerryError | undefined {
    if (!this.user) return undefined;
    const revoked = revocation(this.ctx.users, this.user.name, this.credential);
    if (revoked) return revoked;
    const now = this.ctx.users.current(this.user.name) as User;
    this.credential = credentialOf(now); // The same password, perhaps rehashed: follow the new hash.
    return undefined;
  }

  /** Applies the users file as it is now to the next request: rights, quota and home. */
  private async followUserChanges(): Promise<void> {
    if (!this.user) return;
    const revoked = this.revocation();
    if (revoked) throw revoked;
    const now = this.ctx.users.current(this.user.name) as User;
    // The quota is the home's limit: a new quota, like a new home, takes a new view of the store.
    if (now.home !== this.user.home || now.quota !== this.user.quota) this.home = await this.openHome(now);
    this.user = now;
  }

  /** The user's view of the store, bounded by their quota (or the server's default) and the entry limit. */
  private openHome(user: User): Promise<HomeStorage> {
    return openHome(this.ctx.storage, user, this.ctx.limits);
  }

  /** Closes the connection at once, transfer or not (drain timeout). */
  destroy(): void {
    this.channel.destroy();
  }

  /** Ends the connection from outside the request loop (timeouts): says why, flushes, closes. */
  private abort(error: FerryError): void {
    this.failure = error;
    void (async () => {
      await sendError(this.channel, 0, error).catch(() => undefined);
      // end() lets the error frame reach the peer before the socket goes; a peer that
      // does not read gets a moment, not forever.
      await withDeadline(this.channel.end().catch(() => undefined), ABORT_FLUSH_MS);
      this.channel.destroy();
    })();
  }

  private async handshake(): Promise<void> {
    this.idle = true;
    const frame = await this.channel.next();
    this.idle = false;
    if (frame === undefined) throw ferryError('CONNECTION_LOST', 'the client left before the handshake');
    await welcome(this.channel, frame, { agent: this.ctx.agent, maxFrameBytes: this.ctx.limits.maxFrameBytes });
  }

  /** Serves one request to its end; returns false when the connection should close. */
  private async serve(id: number, parsed: ParsedRequest): Promise<boolean> {
    if (parsed.request === undefined) {
      await this.replies.refuseNow(id, parsed.error, parsed.carriesData);
      return true;
    }
    const { request } = parsed;
    if (request.op === 'quit') {
      await this.channel.sendJson(FrameType.OK, id, {});
      return false;
    }
    const started = performance.now();
    let outcome: Outcome;
    if (request.op === 'login') outcome = await this.login(request.user, request.password);
    else if (this.user && this.home) outcome = await perform(this.commandContext(id, this.user, this.home), request);
    else outcome = await this.replies.refused(id, ferryError('AUTH_REQUIRED', 'log in before sending commands'), parsed.carriesData);
    await this.replies.conclude({ id, request, uploadPath: parsed.uploadPath, started }, outcome);
    return true;
  }

  private commandContext(id: number, user: User, home: HomeStorage): CommandContext {
    return {
      id,
      channel: this.channel,
      home,
      permissions: user.permissions,
      quota: user.quota ?? this.ctx.limits.defaultQuota,
      limits: this.ctx.limits,
      throttle: this.throttle,
      bytes: 0,
      settled: () => this.commits.settled(),
    };
  }

  /** Logs the user in: from here on the connection serves their home, with their rights. */
  private async login(name: string, password: string): Promise<Outcome> {
    try {
      if (this.user) {
        const error = ferryError('BAD_REQUEST', `already logged in as ${this.user.name}; open a new connection to switch users`);
        return { kind: 'refused', error, answered: false, reason: error, bytes: 0 };
      }
      const source = sourceKey(this.socket.remoteAddress ?? '?');
      const books = { ...this.ctx, failureDelayMs: this.ctx.limits.authFailureDelayMs };
      const outcome = await authenticate(books, source, name, password);
      if ('refused' in outcome) return { kind: 'refused', error: outcome.refused, answered: false, reason: outcome.refused, bytes: 0 };
      const { user } = outcome;
      this.home = await this.openHome(user);
      this.user = user;
      auditLogin(this.ctx.logger, this.actor());
      this.credential = credentialOf(user);
      this.channel.setMaxFrameBytes(this.ctx.limits.maxFrameBytes);
      const answer: LoginResult = { user: user.name, home: formatRemotePath(parseRemotePath(user.home)), permissions: user.permissions };
      return { kind: 'answer', answer, bytes: 0 };
    } catch (error) {
      return failed(error, 0);
    }
  }

  private actor(): Actor {
    return { user: this.user?.name, remote: this.remote };
  }
}
