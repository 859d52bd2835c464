/**
 * The whole server's books in a cluster: the login book (failures per source and
 * per account, bans) and the connection book (connections per source and in all).
 * Both live in the primary, so their limits hold for the server, not per worker;
 * a worker asks before each login attempt and each raw connection, and reports
 * outcomes and closes. One IPC round trip on loopback costs well under a
 * millisecond, next to a password hash's hundred.
 *
 * Its messages are its own ("ferry:book..."), beside those of messages.ts.
 */

import type { Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { BanBook, LoginQueue, logBan, type BanPolicy, type LoginGuard, type LoginTicket, type LoginVerdict } from '../auth/bans.js';
import { ConnectionBook, type ConnectionGate, type ConnectionLimits } from '../server/connection-book.js';
import { ferryError, type FerryError } from '../protocol/errors.js';

type Question = { kind: 'login'; source: string; account: string } | { kind: 'connection'; source: string };
type Answer = { kind: 'login'; verdict: LoginVerdict } | { kind: 'connection'; refusal: string | null };
type Report = { kind: 'login-failed'; ticket: LoginTicket } | { kind: 'login-ok'; ticket: LoginTicket } | { kind: 'connection-closed'; source: string };

type BookMessage =
  | { type: 'ferry:book?'; id: number; question: Question }
  | { type: 'ferry:book!'; id: number; answer: Answer }
  | { type: 'ferry:book'; report: Report };

function isBookMessage(message: unknown): message is BookMessage {
  if (typeof message !== 'object' || message === null) return false;
  const type = (message as { type?: unknown }).type;
  return type === 'ferry:book?' || type === 'ferry:book!' || type === 'ferry:book';
}

/** What one worker holds in the books, to let go of when it exits. */
interface Held {
  connections: Map<string, number>;
  tickets: Map<number, LoginTicket>;
}

/** The primary's side: keeps the books and answers every worker. */
export class PrimaryBooks {
  private readonly logins: LoginQueue;
  private readonly connections: ConnectionBook;

  constructor(policy: BanPolicy, limits: ConnectionLimits, logger: Logger) {
    this.logins = new LoginQueue(new BanBook(policy), (ban) => logBan(logger, ban));
    this.connections = new ConnectionBook(limits);
  }

  /**
   * Serves one worker. When it exits, however it ends, its connections are let go
   * and its logins still being checked count neither way.
   */
  attach(worker: Worker): void {
    const held: Held = { connections: new Map(), tickets: new Map() };
    worker.on('message', (message: unknown) => {
      if (!isBookMessage(message)) return;
      if (message.type === 'ferry:book?') {
        void this.answer(message.question, held).then((answer) => {
          if (worker.isConnected()) worker.send({ type: 'ferry:book!', id: message.id, answer } satisfies BookMessage);
          else if (answer.kind === 'login' && answer.verdict.allowed) this.logins.abandoned(answer.verdict.ticket);
        });
      } else if (message.type === 'ferry:book') {
        this.record(message.report, held);
      }
    });
    worker.once('exit', () => {
      for (const [source, count] of held.connections) this.connections.release(source, count);
      for (const ticket of held.tickets.values()) this.logins.abandoned(ticket);
      held.connections.clear();
      held.tickets.clear();
    });
  }

  private async answer(question: Question, held: Held): Promise<Answer> {
    if (question.kind === 'login') {
      const verdict = await this.logins.attempt(question.source, question.account);
      if (verdict.allowed) held.tickets.set(verdict.ticket.id, verdict.ticket);
      return { kind: 'login', verdict };
    }
    const refusal = this.connections.admit(question.source);
    if (refusal === undefined) held.connections.set(question.source, (held.connections.get(question.source) ?? 0) + 1);
    return { kind: 'connection', refusal: refusal ?? null };
  }

  private record(report: Report, held: Held): void {
    switch (report.kind) {
      case 'login-failed':
      case 'login-ok': {
        // Only tickets this worker was given: a report cannot settle another's attempt.
        const ticket = held.tickets.get(report.ticket.id);
        if (!ticket) break;
        held.tickets.delete(ticket.id);
        if (report.kind === 'login-failed') this.logins.failed(ticket);
        else this.logins.succeeded(ticket);
        break;
      }
      case 'connection-closed': {
        const count = held.connections.get(report.source) ?? 0;
        if (count === 0) break;
        if (count > 1) held.connections.set(report.source, count - 1);
        else held.connections.delete(report.source);
        this.connections.release(report.source);
        break;
      }
    }
  }
}

const PRIMARY_GONE = (): FerryError => ferryError('BUSY', 'the server is restarting; try again shortly');

/** A worker's side: asks the primary, and tells it outcomes. */
export class WorkerBooks implements LoginGuard, ConnectionGate {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (answer: Answer) => void; reject: (error: Error) => void }>();

  constructor() {
    process.on('message', (message: unknown) => {
      if (!isBookMessage(message) || message.type !== 'ferry:book!') return;
      const waiter = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      waiter?.resolve(message.answer);
    });
    // Without the primary nothing can be admitted: refuse what waits, so nothing hangs.
    process.once('disconnect', () => {
      for (const waiter of this.waiting.values()) waiter.reject(PRIMARY_GONE());
      this.waiting.clear();
    });
  }

  private ask(question: Question): Promise<Answer> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!process.send || !process.connected) {
        reject(PRIMARY_GONE());
        return;
      }
      this.waiting.set(id, { resolve, reject });
      process.send({ type: 'ferry:book?', id, question } satisfies BookMessage);
    });
  }

  private tell(report: Report): void {
    if (process.connected) process.send?.({ type: 'ferry:book', report } satisfies BookMessage);
  }

  async attempt(source: string, account: string): Promise<LoginVerdict> {
    const answer = await this.ask({ kind: 'login', source, account });
    if (answer.kind !== 'login') throw new Error('the primary answered a login question with something else');
    return answer.verdict;
  }

  failed(ticket: LoginTicket): void {
    this.tell({ kind: 'login-failed', ticket });
  }

  succeeded(ticket: LoginTicket): void {
    this.tell({ kind: 'login-ok', ticket });
  }

  async admit(source: string): Promise<string | undefined> {
    const answer = await this.ask({ kind: 'connection', source });
    if (answer.kind !== 'connection') throw new Error('the primary answered a connection question with something else');
    return answer.refusal ?? undefined;
  }

  release(source: string): void {
    this.tell({ kind: 'connection-closed', source });
  }
}
