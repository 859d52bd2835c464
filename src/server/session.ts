/**
 * One session per connection: handshake, login, then requests in the order they
 * arrive (a client may pipeline many without waiting). Independent of the process
 * model: the same session runs in a single process or in a cluster worker.
 */

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { LoginGuard } from '../auth/bans.js';
import { sourceKey } from '../auth/source.js';
import { credentialOf, type UserDirectory, type User } from '../auth/users.js';
import { authenticate, openHome, revocation } from './authenticate.js';
import type { RefusalLog } from '../ops/refusal-log.js';
import { type FerryError, asFerryError, ferryError, type ErrorCode } from '../protocol/errors.js';
import { FrameType, PRE_AUTH_FRAME_LIMIT, parseJsonPayload } from '../protocol/frames.js';
import {
  CAPABILITIES,
  PROTOCOL_NAME,
  PROTOCOL_VERSION,
  parseHello,
  parseRequest,
  type LoginResult,
  type Request,
  type Welcome,
} from '../protocol/messages.js';
import { formatRemotePath, parseRemotePath } from '../protocol/paths.js';
import type { HomeStorage, Storage } from '../storage/storage.js';
import { withDeadline } from '../io/deadline.js';
import { clientText } from '../ops/logger.js';
import { FrameChannel } from '../transport/channel.js';
import { Throttle } from './throttle.js';
import { auditChange, auditLogin, type Actor } from './audit.js';
import { commands, failedTransferDirection, isDataOp, refuseUpload, transferDirection, type CommandContext, type CommandLimits } from './commands.js';

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
  /** Answers of uploads still committing, chained in request order. */
  private commits: Promise<void> = Promise.resolve();
  private commitsPending = 0;
  /** Canonical paths of the uploads still committing. */
  private readonly committingPaths = new Map<string, number>();

  constructor(
    private readonly socket: Socket,
    private readonly ctx: SessionContext,
  ) {
    // A stranger gets a few KiB per frame; the full limit comes with the login.
    this.channel = new FrameChannel(socket, { maxFrameBytes: Math.min(PRE_AUTH_FRAME_LIMIT, ctx.limits.maxFrameBytes) });
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.throttle = new Throttle(ctx.limits.bandwidthLimit);
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
        const payload = parseJsonPayload(frame);
        // Only uploads to unrelated paths overtake earlier commits; anything else sees
        // them done, as if one request ran after the other (read your writes).
        if (!isPutAttempt(payload) || this.commitsPending >= MAX_PENDING_COMMITS || this.touchesCommitting(payload)) await this.commits;
        const keepGoing = await this.serve(frame.id, payload);
        if (this.user) clearTimeout(authTimer);
        if (!keepGoing) break;
      }
      await this.commits;
      await this.channel.close(LINGER_MS);
    } catch (error) {
      await this.commits;
      const failure = this.failure ?? asFerryError(error);
      this.failure = failure;
      if (failure.code !== 'CONNECTION_LOST') {
        await this.channel.sendJson(FrameType.ERROR, 0, { code: failure.code, message: failure.message }).catch(() => undefined);
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
      await this.channel.sendJson(FrameType.ERROR, 0, { code: error.code, message: error.message }).catch(() => undefined);
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
    if (frame.type !== FrameType.HELLO) {
      throw ferryError('BAD_FRAME', 'this is a Ferry server: connect with the ferry client (the first frame must be HELLO)');
    }
    const hello = parseHello(parseJsonPayload(frame));
    if (hello.protocol !== PROTOCOL_NAME || hello.version !== PROTOCOL_VERSION) {
      throw ferryError(
        'UNSUPPORTED_VERSION',
        `this server speaks ${PROTOCOL_NAME} protocol version ${PROTOCOL_VERSION}, the client ${hello.protocol} version ${hello.version}; install a matching ferry client`,
      );
    }
    const welcome: Welcome = {
      protocol: PROTOCOL_NAME,
      version: PROTOCOL_VERSION,
      capabilities: [...CAPABILITIES],
      agent: this.ctx.agent,
      maxFrameBytes: this.ctx.limits.maxFrameBytes,
    };
    await this.channel.sendJson(FrameType.WELCOME, 0, welcome);
  }

  /** Answers one request; returns false when the connection should close. */
  private async serve(id: number, payload: unknown): Promise<boolean> {
    let request: Request;
    try {
      request = parseRequest(payload);
    } catch (error) {
      const failure = asFerryError(error);
      await this.commits;
      // A malformed put may still be followed by its data: drop it up to END.
      if (isPutAttempt(payload)) await refuseUpload(this.channel, id, failure);
      else await this.sendError(id, failure);
      return true;
    }
    if (request.op === 'quit') {
      await this.channel.sendJson(FrameType.OK, id, {});
      return false;
    }
    const direction = transferDirection(request.op);
    const failedAs = failedTransferDirection(request);
    const started = performance.now();
    const ctx: CommandContext | undefined =
      this.user && this.home
        ? {
            id,
            channel: this.channel,
            home: this.home,
            permissions: this.user.permissions,
            quota: this.user.quota ?? this.ctx.limits.defaultQuota,
            limits: this.ctx.limits,
            throttle: this.throttle,
            bytes: 0,
            answered: false,
            settled: () => this.commits,
          }
        : undefined;
    try {
      if (request.op === 'login') await this.login(id, request.user, request.password);
      else if (!ctx) {
        const refusal = ferryError('AUTH_REQUIRED', 'log in before sending commands');
        await this.commits;
        if (request.op === 'put' || request.op === 'putStream') await refuseUpload(this.channel, id, refusal);
        else await this.sendError(id, refusal);
        if (failedAs) this.logTransfer(request, failedAs, 'error', 0, started, refusal.code);
        auditChange(this.ctx.logger, this.actor(), request, refusal.code);
      } else {
        if (isDataOp(request.op)) await (commands[request.op] as (c: CommandContext, r: Request) => Promise<void>)(ctx, request);
        if (ctx.committing) this.answerLater(id, request, ctx, ctx.committing, started);
        else if (direction) this.logTransfer(request, direction, 'ok', ctx.bytes, started);
        auditChange(this.ctx.logger, this.actor(), request);
      }
    } catch (error) {
      const failure = asFerryError(error);
      if (failedAs) {
        const result = failure.code === 'CONNECTION_LOST' ? 'aborted' : 'error';
        this.logTransfer(request, failedAs, result, ctx?.bytes ?? 0, started, failure.code);
      }
      auditChange(this.ctx.logger, this.actor(), request, failure.code);
      if (failure.code === 'CONNECTION_LOST' || failure.code === 'BAD_FRAME') throw failure;
      if (failure.code === 'INTERNAL') this.ctx.logger.error({ err: error, remote: this.remote }, 'request failed');
      if (!ctx?.answered) {
        await this.commits;
        await this.sendError(id, failure);
      }
    }
    return true;
  }

  /** The canonical path a put names, if it is one that parses. */
  private static putPath(payload: unknown): string | undefined {
    const path = (payload as { path?: unknown }).path;
    if (typeof path !== 'string') return undefined;
    try {
      return formatRemotePath(parseRemotePath(path));
    } catch {
      return undefined;
    }
  }

  /** Whether a put names a path that is, contains or lies in one still committing. */
  private touchesCommitting(payload: unknown): boolean {
    const path = Session.putPath(payload);
    if (path === undefined) return false;
    for (const pending of this.committingPaths.keys()) {
      if (pending === path || pending.startsWith(`${path}/`) || path.startsWith(`${pending}/`)) return true;
    }
    return false;
  }

  /** Queues the answer of an upload still committing behind the answers before it. */
  private answerLater(id: number, request: Request, ctx: CommandContext, committing: Promise<void>, started: number): void {
    const path = Session.putPath(request) ?? '';
    this.commitsPending++;
    this.committingPaths.set(path, (this.committingPaths.get(path) ?? 0) + 1);
    const settled = committing.then(
      () => undefined,
      (error: unknown) => asFerryError(error),
    );
    this.commits = this.commits.then(async () => {
      const failure = await settled;
      this.commitsPending--;
      const left = (this.committingPaths.get(path) ?? 1) - 1;
      if (left > 0) this.committingPaths.set(path, left);
      else this.committingPaths.delete(path);
      this.logTransfer(request, 'upload', failure ? 'error' : 'ok', ctx.bytes, started, failure?.code);
      if (failure?.code === 'INTERNAL') this.ctx.logger.error({ err: failure.cause, remote: this.remote }, 'commit failed');
      const answer = failure ? this.sendError(id, failure) : this.channel.sendJson(FrameType.OK, id, ctx.result);
      await answer.catch(() => undefined); // A closed connection: the file is in place all the same.
    });
  }

  private async login(id: number, name: string, password: string): Promise<void> {
    if (this.user) {
      await this.sendError(id, ferryError('BAD_REQUEST', `already logged in as ${this.user.name}; open a new connection to switch users`));
      return;
    }
    const source = sourceKey(this.socket.remoteAddress ?? '?');
    const books = { ...this.ctx, failureDelayMs: this.ctx.limits.authFailureDelayMs };
    const outcome = await authenticate(books, source, name, password);
    if ('refused' in outcome) {
      await this.sendError(id, outcome.refused);
      return;
    }
    const { user } = outcome;
    this.home = await this.openHome(user);
    this.user = user;
    auditLogin(this.ctx.logger, this.actor());
    this.credential = credentialOf(user);
    this.channel.setMaxFrameBytes(this.ctx.limits.maxFrameBytes);
    const result: LoginResult = { user: user.name, home: formatRemotePath(parseRemotePath(user.home)), permissions: user.permissions };
    await this.channel.sendJson(FrameType.OK, id, result);
  }

  private actor(): Actor {
    return { user: this.user?.name, remote: this.remote };
  }

  private async sendError(id: number, error: FerryError): Promise<void> {
    await this.channel.sendJson(FrameType.ERROR, id, { code: error.code, message: error.message });
  }

  private logTransfer(
    request: Request,
    direction: 'upload' | 'download',
    result: TransferResult,
    bytes: number,
    started: number,
    code?: ErrorCode,
  ): void {
    const seconds = (performance.now() - started) / 1000;
    this.ctx.observer.transfer({ direction, result, bytes, seconds, code });
    this.ctx.logger.info(
      {
        event: 'transfer',
        direction,
        user: this.user?.name,
        remote: this.remote,
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

/** A request whose data follows it (a put, sized or streamed), even one that does not parse. */
function isPutAttempt(payload: unknown): boolean {
  if (typeof payload !== 'object' || payload === null) return false;
  const op = (payload as { op?: unknown }).op;
  return op === 'put' || op === 'putStream';
}

