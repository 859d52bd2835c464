/**
 * The client library: one connection to a Ferry server, the small surface the CLI
 * and tests use. The work is done by connect.ts (connection, TLS trust, handshake),
 * multiplexer.ts (requests in flight), upload.ts and download.ts; every answer is
 * read by a parser in protocol/messages.ts and every name in it checked
 * (received-names.ts) before anything here returns it.
 */

import { ferryError } from '../protocol/errors.js';
import {
  parseEntries,
  parseEntry,
  parseLoginResult,
  type Capability,
  type Entry,
  type LoginResult,
  type PutResult,
  type Welcome,
} from '../protocol/messages.js';
import { connectAndGreet, type ConnectOptions } from './connect.js';
import { download, type ReceiveOptions, type DownloadResult, type DownloadSink } from './download.js';
import { Multiplexer } from './multiplexer.js';
import { receivedName, receivedRelativePath, receivedStatName } from './received-names.js';
import { Uploads, type UploadOptions, type UploadSource } from './upload.js';

export { serverLabel, type ConnectOptions } from './connect.js';
export type { DownloadResult, DownloadSink } from './download.js';
export type { TlsTrust, TrustQuestion } from './tls-pinning.js';
export type { UploadOptions, UploadSource } from './upload.js';

const ignoreAnswer = (): void => undefined;

export class FerryClient {
  private readonly uploads: Uploads;

  private constructor(
    private readonly mux: Multiplexer,
    readonly welcome: Welcome,
    readonly address: string,
  ) {
    this.uploads = new Uploads(mux);
  }

  static async connect(options: ConnectOptions): Promise<FerryClient> {
    const { channel, welcome, where } = await connectAndGreet(options);
    return new FerryClient(new Multiplexer(channel, where), welcome, where);
  }

  login(user: string, password: string): Promise<LoginResult> {
    return this.mux.call({ op: 'login', user, password }, parseLoginResult);
  }

  /**
   * `forDownload`: the server counts a failure as a download that failed (a missing name, say).
   * The answer's name is checked like every name from the server (received-names.ts).
   */
  async stat(path: string, options: { forDownload?: boolean } = {}): Promise<Entry> {
    const entry = await this.mux.call({ op: 'stat', path, download: options.forDownload ?? false }, parseEntry);
    receivedStatName(entry.name);
    return entry;
  }

  /** Entries named by one name each, or by their path below `path` when recursive; each name is checked. */
  async list(path: string, options: { recursive?: boolean } = {}): Promise<Entry[]> {
    const entries: Entry[] = [];
    await this.mux.call({ op: 'list', path, recursive: options.recursive ?? false }, ignoreAnswer, (part) => entries.push(...parseEntries(part)));
    const check = options.recursive ? receivedRelativePath : receivedName;
    for (const entry of entries) check(entry.name);
    return entries;
  }

  async remove(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    await this.mux.call({ op: 'delete', path, recursive: options.recursive ?? false }, ignoreAnswer);
  }

  async rename(from: string, to: string, options: { noClobber?: boolean } = {}): Promise<void> {
    await this.mux.call({ op: 'rename', from, to, noClobber: options.noClobber ?? false }, ignoreAnswer);
  }

  async mkdir(path: string): Promise<void> {
    await this.mux.call({ op: 'mkdir', path }, ignoreAnswer);
  }

  /** Sets a remote file's modification time (servers announcing "mtime"). */
  async touch(path: string, mtime: number): Promise<void> {
    await this.mux.call({ op: 'touch', path, mtime: Math.trunc(mtime) }, ignoreAnswer);
  }

  /**
   * Sends `source` to `path`. The server stores it only if the byte count and the
   * SHA-256 computed here while reading match what it received. A resumable upload
   * first asks what the server already holds and, when those bytes match the start
   * of `source`, sends only the rest.
   */
  upload(path: string, source: UploadSource, options: UploadOptions = {}): Promise<PutResult> {
    return this.uploads.upload(path, source, options);
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
    return this.uploads.uploadStream(path, input, options);
  }

  /**
   * Receives `path` into `sink`, from `offset` on. `prefixDigest` must already hold
   * the first `offset` bytes, so the whole file is verified end to end.
   */
  download(path: string, sink: DownloadSink, options: ReceiveOptions = {}): Promise<DownloadResult> {
    return download(this.mux, path, sink, options);
  }

  /** Says goodbye politely; the server closes the connection. */
  async quit(): Promise<void> {
    if (this.mux.broken) return;
    await this.mux.call({ op: 'quit' }, ignoreAnswer).catch(() => undefined);
    this.close();
    await this.mux.finished;
  }

  close(): void {
    this.mux.shutDown(ferryError('CONNECTION_LOST', 'the connection was closed'));
  }

  /** Ends every request in flight at once, as the user asked (Ctrl-C); the connection closes. */
  cancel(): void {
    this.mux.shutDown(ferryError('CANCELLED'));
  }
}
