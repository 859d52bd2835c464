/**
 * The client library: one connection to a Ferry server. Requests may be issued
 * concurrently; they are written in call order (an upload's data right behind its
 * request) and answered by request id, so many small files share one connection
 * without a round trip each.
 */

import { createHash, type Hash } from 'node:crypto';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Readable } from 'node:stream';
import { EXPIRED, withDeadline } from '../io/deadline.js';
import { FerryError, ferryError, systemErrorCode } from '../protocol/errors.js';
import { FrameType, parseJsonPayload, type Frame } from '../protocol/frames.js';
import {
  CAPABILITIES,
  PROTOCOL_NAME,
  type Capability,
  PROTOCOL_VERSION,
  parseErrorMessage,
  parseWelcome,
  type Entry,
  type GetHeader,
  type LoginResult,
  type PutResult,
  type Request,
  type ResumeStatus,
  type Welcome,
} from '../protocol/messages.js';
import { FrameChannel } from '../transport/channel.js';
import type { KnownHosts } from './known-hosts.js';
import { VERSION } from '../version.js';
import { certificateFingerprint } from '../protocol/fingerprint.js';
import { receivedName, receivedRelativePath, receivedStatName } from './received-names.js';

export const CLIENT_AGENT = `ferry-cli/${VERSION}`;
/** The client accepts larger control frames than it sends (listings come in batches). */
const CLIENT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** A certificate the user is asked to trust: seen for the first time, or changed. */
export interface TrustQuestion {
  server: string;
  fingerprint: string;
  /** What was pinned before, when the certificate changed. */
  previous?: string;
}

/** How a TLS server is trusted: pinned (on first use, or as given), or verified against a CA. */
export type TlsTrust =
  | {
      kind: 'pin';
      knownHosts: KnownHosts;
      /**
       * A fingerprint the server must show. One the user gave (`--fingerprint`) is
       * pinned as given; one from an mDNS record is unauthenticated, so it is only
       * an extra check on first use and never overrides what is pinned.
       */
      expected?: { fingerprint: string; source: 'user' | 'mdns' };
      /** Asked before a certificate is pinned; resolves true to trust it. No connection is open meanwhile. */
      approve: (question: TrustQuestion) => Promise<boolean>;
      /** The user asked to trust the certificate the server shows now, even if it changed (`ferry trust`). */
      replace?: boolean;
    }
  | { kind: 'ca'; ca: string | Buffer };

export interface ConnectOptions {
  host: string;
  port: number;
  connectTimeoutMs?: number;
  /** The local address to connect from (a host with several). */
  localAddress?: string;
  /** Speak TLS, trusting the server this way. */
  tls?: TlsTrust;
}

const CERT_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
]);

export type ProgressListener = (bytesDone: number, bytesTotal: number) => void;

export interface UploadSource {
  size: number;
  /** A fresh stream of the bytes from `start` (default 0) up to `end` (exclusive; default size). */
  open(start?: number, end?: number): Readable;
  /**
   * For a small source: its bytes in one piece, read at once. It reads up to one byte
   * more than `size`, so a source that grew or shrank since it was sized is caught.
   */
  readAll?(): Buffer;
}

export interface UploadOptions {
  noClobber?: boolean;
  /** Ask the server to keep an interrupted upload, and continue one it kept. */
  resumable?: boolean;
  /** The file's modification time (ms since the epoch), for the server to keep. */
  mtime?: number;
  onProgress?: ProgressListener;
}

export interface DownloadSink {
  write(chunk: Buffer): Promise<void>;
}

export interface DownloadResult {
  size: number;
  mtime: number;
  sha256: string;
  /** Bytes actually received in this call (less than size when resumed). */
  received: number;
}

/** How one request reacts to the frames answering it; true when it is complete. */
type FrameHandler = (frame: Frame) => Promise<boolean> | boolean;

interface Pending {
  handle: FrameHandler;
  fail(error: FerryError): void;
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: FerryError) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // Rejections are observed by whoever awaits the request.
  return { promise, resolve, reject };
}

/** Uploads up to this size are read whole ahead of their turn to be sent... */
const WHOLE_UPLOAD_MAX_BYTES = 128 * 1024;
/** ...as long as the files read ahead hold no more than this in all (memory stays bounded). */
const READ_AHEAD_MAX_BYTES = 8 * 1024 * 1024;

function grewError(): FerryError {
  return ferryError('LOCAL_IO', 'the file grew while it was being sent; send it again');
}

function shrankError(): FerryError {
  return ferryError('LOCAL_IO', 'the file shrank while it was being sent; send it again');
}

function localReadFailure(error: unknown): FerryError {
  return error instanceof FerryError ? error : ferryError('LOCAL_IO', `cannot read the file: ${(error as Error).message}`, error);
}

/** Reads a small source whole, checking that it holds exactly the bytes it announced. */
function readWhole(source: UploadSource): Promise<Buffer[]> {
  const reading = (async () => {
    if (source.readAll) {
      const bytes = source.readAll();
      if (bytes.length > source.size) throw grewError();
      if (bytes.length < source.size) throw shrankError();
      return [bytes];
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of source.open(0) as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > source.size) throw grewError();
      chunks.push(chunk);
    }
    if (bytes !== source.size) throw shrankError();
    return chunks;
  })();
  reading.catch(() => undefined); // Observed in the upload's turn.
  return reading;
}

function serverError(frame: Frame): FerryError {
  const { code, message } = parseErrorMessage(parseJsonPayload(frame));
  return ferryError(code, message);
}

function connectFailure(error: unknown, host: string, port: number): FerryError {
  const where = serverLabel(host, port);
  const code = systemErrorCode(error) ?? '';
  if (CERT_ERRORS.has(code)) {
    return ferryError('TLS_UNTRUSTED', `the TLS certificate of ${where} is not signed by the CA you gave (${(error as Error).message}); check --ca, or the server's certificate`, error);
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long/i.test((error as Error).message)) {
    return ferryError('CONNECT_FAILED', `${where} does not speak TLS (a server started with FERRY_TLS=false?); to talk to it in plain text anyway, add --no-tls; else check the port`, error);
  }
  switch (code) {
    case 'ECONNREFUSED':
      return ferryError('CONNECT_FAILED', `cannot reach ${where}: connection refused; is the server running, and is port ${port} open in its firewall?`, error);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return ferryError('CONNECT_FAILED', `cannot resolve the host name "${host}"; check the spelling, or use its IP address ("ferry discover" lists servers on the LAN)`, error);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return ferryError('CONNECT_FAILED', `cannot reach ${where}: no route to the host; is this device on the same network as the server?`, error);
    case 'ETIMEDOUT':
      return ferryError(
        'CONNECT_FAILED',
        `cannot reach ${where}: no answer in time; check the address, and that a firewall is not dropping port ${port} ("ferry doctor -s ${where}" shows where the way stops)`,
        error,
      );
    default:
      return ferryError('CONNECT_FAILED', `cannot reach ${where}: ${(error as Error).message}`, error);
  }
}

export function serverLabel(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Resolves once `socket` emits `ready`, failing on error or after the timeout. A
 * timeout before TCP connected is a host that does not answer (a firewall dropping
 * packets: not worth retrying); after it, a server that took the connection but not
 * yet the TLS handshake (one starting or draining, say): a lost connection, retried.
 */
function connected(socket: Socket, ready: 'connect' | 'secureConnect', options: ConnectOptions): Promise<Socket> {
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let reached = false;
    socket.once('connect', () => (reached = true));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        reached
          ? ferryError('CONNECTION_LOST', `${serverLabel(options.host, options.port)} accepted the connection but did not finish the TLS handshake within ${timeoutMs} ms`)
          : connectFailure(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }), options.host, options.port),
      );
    }, timeoutMs);
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(connectFailure(error, options.host, options.port));
    });
  });
}

type PinTrust = Extract<TlsTrust, { kind: 'pin' }>;

/** Whether the certificate `actual` of `where` is trusted already, or what to ask the user. */
async function judgeCertificate(actual: string, trust: PinTrust, where: string): Promise<'trusted' | TrustQuestion> {
  const { expected, knownHosts } = trust;
  if (expected?.source === 'user') {
    if (actual !== expected.fingerprint) {
      throw ferryError(
        'TLS_UNTRUSTED',
        `the TLS certificate of ${where} has fingerprint ${actual}, not ${expected.fingerprint} as you gave with --fingerprint. ` +
          `Someone may be intercepting the connection, or the fingerprint is from another server: compare it with the server's start-up log`,
      );
    }
    if ((await knownHosts.get(where)) !== actual) await knownHosts.set(where, actual);
    return 'trusted';
  }
  const known = await knownHosts.get(where);
  if (known === actual) return 'trusted';
  if (known !== undefined && !trust.replace) {
    throw ferryError(
      'TLS_UNTRUSTED',
      `the TLS certificate of ${where} has CHANGED: it was ${known}, it is now ${actual}. ` +
        `Someone may be intercepting the connection. If the server was given a new certificate on purpose ` +
        `(compare with the fingerprint in its log), accept it with: ferry -s ${where} trust`,
    );
  }
  if (known === undefined && expected !== undefined && actual !== expected.fingerprint) {
    throw ferryError(
      'TLS_UNTRUSTED',
      `the TLS certificate of ${where} has fingerprint ${actual}, but the server's mDNS announcement names ${expected.fingerprint}. ` +
        `Someone on the network may be impersonating it; compare with the fingerprint in the server's log and connect with -s ${where} --fingerprint SHA256:...`,
    );
  }
  return { server: where, fingerprint: actual, ...(known !== undefined ? { previous: known } : {}) };
}

function fingerprintOfPeer(socket: TLSSocket, where: string): string {
  const certificate = socket.getPeerX509Certificate();
  if (certificate === undefined) throw ferryError('TLS_UNTRUSTED', `${where} showed no TLS certificate`);
  return certificateFingerprint(certificate);
}

async function openSocket(options: ConnectOptions): Promise<Socket> {
  const target = {
    host: options.host,
    port: options.port,
    noDelay: true,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  };
  const trust = options.tls;
  if (trust === undefined) return connected(netConnect(target), 'connect', options);
  const socket = tlsConnect({
    ...target,
    ...(isIP(options.host) ? {} : { servername: options.host }),
    minVersion: 'TLSv1.2',
    // A pinned server is checked by fingerprint below; a CA-checked one by the usual chain and name.
    rejectUnauthorized: trust.kind === 'ca',
    ...(trust.kind === 'ca' ? { ca: trust.ca } : {}),
  });
  await connected(socket, 'secureConnect', options);
  if (trust.kind === 'ca') return socket;
  const where = serverLabel(options.host, options.port);
  let verdict: Awaited<ReturnType<typeof judgeCertificate>>;
  try {
    verdict = await judgeCertificate(fingerprintOfPeer(socket as TLSSocket, where), trust, where);
  } catch (error) {
    socket.destroy();
    throw error;
  }
  if (verdict === 'trusted') return socket;
  // No connection is held open while a person reads the fingerprint (the server
  // would time it out); once trusted, a new one must show the same certificate.
  socket.destroy();
  if (!(await trust.approve(verdict))) {
    throw ferryError('TLS_UNTRUSTED', `the certificate of ${where} was not trusted; nothing was recorded or sent`);
  }
  await trust.knownHosts.set(where, verdict.fingerprint);
  return openSocket({ ...options, tls: { kind: 'pin', knownHosts: trust.knownHosts, approve: trust.approve } });
}

function nameOf(entry: unknown): string {
  const name = typeof entry === 'object' && entry !== null && 'name' in entry ? entry.name : undefined;
  if (typeof name !== 'string') throw ferryError('BAD_FRAME', 'the server sent an entry without a name');
  return name;
}

export class FerryClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private writing: Promise<unknown> = Promise.resolve();
  /** Bytes of small uploads read ahead of their turn to be sent. */
  private readAheadBytes = 0;
  private broken: FerryError | undefined;
  private readonly reading: Promise<void>;

  private constructor(
    private readonly channel: FrameChannel,
    readonly welcome: Welcome,
    readonly address: string,
  ) {
    channel.socket.on('error', () => undefined); // Surfaces through the read loop.
    this.reading = this.readLoop();
  }

  static async connect(options: ConnectOptions): Promise<FerryClient> {
    const socket = await openSocket(options);
    const channel = new FrameChannel(socket, { maxFrameBytes: CLIENT_MAX_FRAME_BYTES });
    const where = serverLabel(options.host, options.port);
    try {
      await channel.sendJson(FrameType.HELLO, 0, {
        protocol: PROTOCOL_NAME,
        version: PROTOCOL_VERSION,
        capabilities: [...CAPABILITIES],
        agent: CLIENT_AGENT,
      });
      // A server that accepted the connection but never answers (a host going down)
      // must not hang the client: past the deadline it counts as a lost connection.
      const frame = await withDeadline(channel.next(), options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
      if (frame === EXPIRED) throw ferryError('CONNECTION_LOST', `${where} accepted the connection but did not answer the handshake`);
      if (frame === undefined) {
        const hint = options.tls ? 'is it a Ferry server?' : 'it probably speaks TLS (the default): drop --no-tls (and FERRY_TLS=false); else check that it is a Ferry server';
        throw ferryError('CONNECTION_LOST', `${where} closed the connection during the handshake; ${hint}`);
      }
      if (frame.type === FrameType.ERROR) throw serverError(frame);
      if (frame.type !== FrameType.WELCOME) throw ferryError('BAD_FRAME', `${where} did not answer like a Ferry server`);
      return new FerryClient(channel, parseWelcome(parseJsonPayload(frame)), where);
    } catch (error) {
      channel.destroy();
      if (error instanceof FerryError && error.code === 'BAD_FRAME') {
        const hint = options.tls ? 'check the port' : 'it probably speaks TLS (the default): drop --no-tls (and FERRY_TLS=false); else check the port';
        throw ferryError('CONNECT_FAILED', `${where} does not speak the plain Ferry protocol; ${hint}`, error);
      }
      throw error;
    }
  }

  private async readLoop(): Promise<void> {
    try {
      for (;;) {
        const frame = await this.channel.next();
        if (frame === undefined) break;
        if (frame.id === 0 && frame.type === FrameType.ERROR) throw serverError(frame);
        const pending = this.pending.get(frame.id);
        if (pending === undefined) throw ferryError('BAD_FRAME', `the server answered request ${frame.id}, which is not open`);
        if (await pending.handle(frame)) this.pending.delete(frame.id);
      }
      this.shutDown(ferryError('CONNECTION_LOST', `${this.address} closed the connection`));
    } catch (error) {
      this.shutDown(error instanceof FerryError ? error : ferryError('CONNECTION_LOST', (error as Error).message, error));
    }
  }

  private shutDown(error: FerryError): void {
    this.broken ??= error;
    for (const pending of this.pending.values()) pending.fail(this.broken);
    this.pending.clear();
    this.channel.destroy();
  }

  /** Runs `write` after every earlier request has been written, so frames never interleave. */
  private exclusive<T>(write: () => Promise<T>): Promise<T> {
    const turn = this.writing.then(write);
    this.writing = turn.catch(() => undefined);
    return turn;
  }

  private open(handle: FrameHandler, fail: (error: FerryError) => void): number {
    if (this.broken) throw this.broken;
    const id = this.nextId++;
    this.pending.set(id, { handle, fail });
    return id;
  }

  /** A request answered by one OK (after any PART frames, passed to onPart). */
  private async call<T>(request: Request, onPart?: (part: unknown) => void): Promise<T> {
    const answer = deferred<T>();
    const id = this.open((frame) => {
      if (frame.type === FrameType.PART && onPart) {
        onPart(parseJsonPayload(frame));
        return false;
      }
      if (frame.type === FrameType.OK) answer.resolve(parseJsonPayload(frame) as T);
      else if (frame.type === FrameType.ERROR) answer.reject(serverError(frame));
      else answer.reject(ferryError('BAD_FRAME', `unexpected frame type ${frame.type} for a ${request.op} request`));
      return true;
    }, answer.reject);
    await this.exclusive(() => this.channel.sendJson(FrameType.REQUEST, id, request)).catch(answer.reject);
    return answer.promise;
  }

  login(user: string, password: string): Promise<LoginResult> {
    return this.call({ op: 'login', user, password });
  }

  /**
   * `forDownload`: the server counts a failure as a download that failed (a missing name, say).
   * The answer's name is checked like every name from the server (received-names.ts).
   */
  async stat(path: string, options: { forDownload?: boolean } = {}): Promise<Entry> {
    const entry = await this.call<Entry>({ op: 'stat', path, download: options.forDownload ?? false });
    receivedStatName(nameOf(entry));
    return entry;
  }

  /** Entries named by one name each, or by their path below `path` when recursive; each name is checked. */
  async list(path: string, options: { recursive?: boolean } = {}): Promise<Entry[]> {
    const entries: Entry[] = [];
    await this.call({ op: 'list', path, recursive: options.recursive ?? false }, (part) => entries.push(...(part as Entry[])));
    const check = options.recursive ? receivedRelativePath : receivedName;
    for (const entry of entries) check(nameOf(entry));
    return entries;
  }

  async remove(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    await this.call({ op: 'delete', path, recursive: options.recursive ?? false });
  }

  async rename(from: string, to: string, options: { noClobber?: boolean } = {}): Promise<void> {
    await this.call({ op: 'rename', from, to, noClobber: options.noClobber ?? false });
  }

  async mkdir(path: string): Promise<void> {
    await this.call({ op: 'mkdir', path });
  }

  /** Sets a remote file's modification time (servers announcing "mtime"). */
  async touch(path: string, mtime: number): Promise<void> {
    await this.call({ op: 'touch', path, mtime: Math.trunc(mtime) });
  }

  /**
   * Sends `source` to `path`. The server stores it only if the byte count and the
   * SHA-256 computed here while reading match what it received. A resumable upload
   * first asks what the server already holds and, when those bytes match the start
   * of `source`, sends only the rest.
   */
  async upload(path: string, source: UploadSource, options: UploadOptions = {}): Promise<PutResult> {
    const start = options.resumable ? await this.resumePoint(path, source) : { offset: 0, prefix: createHash('sha256') };
    try {
      return await this.put(path, source, options, start.offset, start.prefix);
    } catch (error) {
      // The partial went away between the question and the put: send it all.
      if (start.offset > 0 && error instanceof FerryError && error.code === 'INTEGRITY') {
        return this.put(path, source, options, 0, createHash('sha256'));
      }
      throw error;
    }
  }

  /** Where a resumable upload can continue: the bytes the server holds, if they are ours. */
  private async resumePoint(path: string, source: UploadSource): Promise<{ offset: number; prefix: Hash }> {
    const status = await this.call<ResumeStatus>({ op: 'resume', path, size: source.size });
    const prefix = createHash('sha256');
    if (status.offset === 0 || status.offset > source.size) return { offset: 0, prefix };
    for await (const chunk of source.open(0, status.offset) as AsyncIterable<Buffer>) prefix.update(chunk);
    if (prefix.copy().digest('hex') !== status.prefixSha256) return { offset: 0, prefix: createHash('sha256') };
    return { offset: status.offset, prefix };
  }

  /**
   * Opens the request id of an upload: its answer, and whether the server already
   * refused it (the sender stops and ENDs early, as the protocol allows).
   */
  private openUpload(): { id: number; answer: ReturnType<typeof deferred<PutResult>>; refused: () => boolean } {
    const answer = deferred<PutResult>();
    let refused = false;
    const id = this.open((frame) => {
      if (frame.type === FrameType.OK) answer.resolve(parseJsonPayload(frame) as PutResult);
      else {
        refused = true;
        answer.reject(frame.type === FrameType.ERROR ? serverError(frame) : ferryError('BAD_FRAME', `unexpected frame type ${frame.type} for an upload`));
      }
      return true;
    }, answer.reject);
    return { id, answer, refused: () => refused };
  }

  private async put(path: string, source: UploadSource, options: UploadOptions, offset: number, hash: Hash): Promise<PutResult> {
    const { id, answer, refused } = this.openUpload();
    let localFailure: FerryError | undefined;
    const prefixSha256 = offset > 0 ? hash.copy().digest('hex') : '';
    const request = {
      op: 'put',
      path,
      size: source.size,
      noClobber: options.noClobber ?? false,
      resumable: options.resumable ?? false,
      offset,
      prefixSha256,
      ...(options.mtime !== undefined ? { mtime: Math.trunc(options.mtime) } : {}),
    };
    // A small file is read now, while earlier requests are still being sent, so many
    // files' reads overlap; its turn then costs one write. A large one streams in its turn.
    const readAhead = offset === 0 && source.size <= WHOLE_UPLOAD_MAX_BYTES && this.readAheadBytes + source.size <= READ_AHEAD_MAX_BYTES;
    const whole = readAhead ? readWhole(source) : undefined;
    if (readAhead) this.readAheadBytes += source.size;
    await this.exclusive(async () => {
      options.onProgress?.(offset, source.size);
      if (whole) {
        let chunks: Buffer[];
        try {
          chunks = await whole;
        } catch (error) {
          this.readAheadBytes -= source.size;
          // Nothing was sent: the request is dropped here, and the server never hears of it.
          localFailure = localReadFailure(error);
          this.pending.delete(id);
          answer.reject(localFailure);
          return;
        }
        for (const chunk of chunks) hash.update(chunk);
        this.readAheadBytes -= source.size;
        await this.channel.sendUpload(id, request, chunks, source.size, hash.copy().digest());
        options.onProgress?.(source.size, source.size);
        return;
      }
      await this.channel.sendJson(FrameType.REQUEST, id, request);
      const stream = source.open(offset);
      try {
        const sent = await this.sendChunks(id, stream as AsyncIterable<Buffer>, hash, {
          from: offset,
          refused,
          max: source.size,
          onSent: (done) => options.onProgress?.(done, source.size),
        });
        if (!refused() && sent !== source.size) throw shrankError();
      } catch (error) {
        if (error instanceof FerryError && error.code === 'CONNECTION_LOST') throw error;
        localFailure = localReadFailure(error);
      } finally {
        stream.destroy();
      }
      // END closes the data stream even when it is short; the server then refuses it.
      await this.channel.sendEnd(id, hash.copy().digest());
    }).catch(answer.reject);
    const result = await answer.promise.catch((error: FerryError) => {
      throw localFailure ?? error;
    });
    if (localFailure) throw localFailure;
    if (result.sha256 !== hash.digest('hex')) {
      throw ferryError('INTEGRITY', `the server stored ${path} with a different SHA-256 than was sent`);
    }
    return result;
  }

  /**
   * Sends an upload's chunks as DATA (folding them into `hash`) until they end or
   * the server refuses the upload; returns the byte count reached (from `from`).
   * `max`, when the size is known, catches a source that grew while being sent.
   */
  private async sendChunks(
    id: number,
    chunks: AsyncIterable<Buffer>,
    hash: Hash,
    options: { from: number; refused: () => boolean; max?: number; onSent: (sent: number) => void },
  ): Promise<number> {
    let sent = options.from;
    for await (const chunk of chunks) {
      if (options.refused()) break; // The server said no: stop reading, end the stream early.
      if (options.max !== undefined && sent + chunk.length > options.max) throw grewError();
      hash.update(chunk);
      const waited = await this.channel.sendData(id, chunk);
      sent += chunk.length;
      options.onSent(sent);
      // Let the read loop run, so a refusal is seen even when neither the source nor the socket waits.
      if (!waited) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return sent;
  }

  /** Whether the server lists `capability` in its WELCOME. */
  supports(capability: Capability): boolean {
    return this.welcome.capabilities.includes(capability);
  }

  /**
   * Sends a stream of unknown length (a pipe) to `path` with `putStream`: the size
   * is stated after the data, and the server stores the file only if that size and
   * the SHA-256 computed here match what it received. Nothing is kept if the
   * connection is lost, and a stream cannot be read twice: no resume.
   */
  async uploadStream(path: string, input: AsyncIterable<Buffer>, options: { noClobber?: boolean; onProgress?: (bytesDone: number) => void } = {}): Promise<PutResult> {
    if (!this.supports('put-stream')) {
      throw ferryError(
        'UNSUPPORTED_VERSION',
        `${this.address} (${this.welcome.agent}) does not take uploads of unknown length (it lacks the "put-stream" capability); ` +
          'upgrade the server, or save the input to a file first and upload that',
      );
    }
    const { id, answer, refused } = this.openUpload();
    const hash = createHash('sha256');
    let localFailure: FerryError | undefined;
    await this.exclusive(async () => {
      await this.channel.sendJson(FrameType.REQUEST, id, { op: 'putStream', path, noClobber: options.noClobber ?? false });
      let sent = 0;
      try {
        sent = await this.sendChunks(id, input, hash, {
          from: 0,
          refused,
          onSent: (done) => {
            sent = done;
            options.onProgress?.(done);
          },
        });
      } catch (error) {
        if (error instanceof FerryError && error.code === 'CONNECTION_LOST') throw error;
        localFailure = localReadFailure(error);
      }
      // A failed read still ends the data properly; the size it states does not matter then.
      await this.channel.sendJson(FrameType.PART, id, { size: sent });
      await this.channel.sendEnd(id, hash.copy().digest());
    }).catch(answer.reject);
    const result = await answer.promise.catch((error: FerryError) => {
      throw localFailure ?? error;
    });
    if (localFailure) throw localFailure;
    if (result.sha256 !== hash.digest('hex')) throw ferryError('INTEGRITY', `the server stored ${path} with a different SHA-256 than was sent`);
    return result;
  }

  /**
   * Receives `path` into `sink`, from `offset` on. `prefixDigest` must already hold
   * the first `offset` bytes, so the whole file is verified end to end.
   */
  async download(
    path: string,
    sink: DownloadSink,
    options: { offset?: number; prefixDigest?: Hash; onProgress?: ProgressListener } = {},
  ): Promise<DownloadResult> {
    const offset = options.offset ?? 0;
    const hash = options.prefixDigest ?? createHash('sha256');
    const answer = deferred<DownloadResult>();
    let header: GetHeader | undefined;
    let received = 0;
    let sinkFailure: FerryError | undefined;
    const id = this.open(async (frame) => {
      switch (frame.type) {
        case FrameType.OK:
          header = parseJsonPayload(frame) as GetHeader;
          options.onProgress?.(offset, header.size);
          return false;
        case FrameType.DATA:
          if (!header) break;
          received += frame.payload.length;
          hash.update(frame.payload);
          // A local write failure must not break the connection: keep reading to END.
          if (!sinkFailure) {
            await sink.write(frame.payload).catch((error: unknown) => {
              sinkFailure = ferryError('LOCAL_IO', `cannot write the download of ${path}: ${(error as Error).message}`, error);
            });
          }
          options.onProgress?.(offset + received, header.size);
          return false;
        case FrameType.END: {
          if (!header) break;
          const digest = hash.digest();
          if (sinkFailure) {
            answer.reject(sinkFailure);
          } else if (offset + received !== header.size) {
            answer.reject(ferryError('INTEGRITY', `received ${offset + received} of ${header.size} bytes of ${path}`));
          } else if (!digest.equals(frame.payload)) {
            answer.reject(ferryError('INTEGRITY', `the SHA-256 of ${path} did not match the server's; the file was not kept, download it again`));
          } else {
            answer.resolve({ size: header.size, mtime: header.mtime, sha256: digest.toString('hex'), received });
          }
          return true;
        }
        case FrameType.ERROR:
          answer.reject(serverError(frame));
          return true;
      }
      answer.reject(ferryError('BAD_FRAME', `unexpected frame type ${frame.type} in a download`));
      return true;
    }, answer.reject);
    await this.exclusive(() => this.channel.sendJson(FrameType.REQUEST, id, { op: 'get', path, offset })).catch(answer.reject);
    return answer.promise;
  }

  /** Says goodbye politely; the server closes the connection. */
  async quit(): Promise<void> {
    if (this.broken) return;
    await this.call({ op: 'quit' }).catch(() => undefined);
    this.close();
    await this.reading;
  }

  close(): void {
    this.shutDown(ferryError('CONNECTION_LOST', 'the connection was closed'));
  }

  /** Ends every request in flight at once, as the user asked (Ctrl-C); the connection closes. */
  cancel(): void {
    this.shutDown(ferryError('CANCELLED'));
  }
}
