/**
 * An upload on local disk once begun: its data written in batches to a temp file
 * (or a partial, to be continued), hashed as it arrives, made durable at
 * checkpoints, and renamed into place on commit through the jail.
 */

import { createHash, type Hash } from 'node:crypto';
import { link, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BatchedFileWriter } from '../../io/batched-writer.js';
import { DirectFileWriter } from '../../io/direct-file-writer.js';
import type { UploadHold } from '../ledger.js';
import type { RemotePath, UploadTarget } from '../storage.js';
import type { FileDigestCache } from './digests.js';
import { storageError } from './errors.js';
import { folderSyncs } from './folder-syncs.js';
import type { Folder, Jail, Planned } from './jail/index.js';

export interface LocalUploadSetup {
  handle: FileHandle;
  /**
   * The same file opened for direct I/O, for a large upload written from its start:
   * its data then skips the page cache (see io/direct-file-writer.ts).
   */
  direct?: FileHandle | undefined;
  /** Where the data is written: a temp file, or a resumable partial. */
  temp: string;
  jail: Jail;
  /**
   * Where it goes: the deepest existing folder on its way, held open, and the
   * folders still missing below it, made (through the jail) only at commit.
   */
  planned: Planned;
  path: RemotePath;
  noClobber: boolean;
  /** The modification time the file keeps (the commit's time when undefined). */
  mtime: number | undefined;
  digests: FileDigestCache;
  /** Its room in the quota book and, when resumable, the lock on its partial. */
  hold: UploadHold;
  /** The data is a partial, kept on suspend for a later upload to continue. */
  resumable: boolean;
  prefixHash?: Hash | undefined;
  /** For a partial: where this upload began in it, and the checkpoint that records the bytes made durable. */
  partial?: { offset: number; checkpoint(length: number): Promise<void>; forget(): Promise<void> };
}

/**
 * An upload's data is made durable every this many bytes while it arrives: the
 * fsync before the OK then only has the last few megabytes to write, and a partial
 * keeps its checkpointed bytes even through a crash of the machine.
 */
const CHECKPOINT_BYTES = 4 * 1024 * 1024;
/** Bytes written but not yet durable that an upload may run ahead of its checkpoint by. */
const MAX_UNSURE_BYTES = CHECKPOINT_BYTES + CHECKPOINT_BYTES / 2;

/** An upload's temp file (or partial); it becomes the final name on commit. */
export class LocalUpload implements UploadTarget {
  private readonly writer: BatchedFileWriter | DirectFileWriter;
  private readonly hash: Hash;
  private closed = false;
  /** The folder held open: the planned one, then the one the file lands in. */
  private folder: Folder;
  /** Bytes of this upload covered by the last checkpoint, the one running, and its first failure. */
  private checkpointed = 0;
  private checkpointing: Promise<void> | undefined;
  private checkpointFailure: { error: unknown } | undefined;

  constructor(private readonly setup: LocalUploadSetup) {
    this.writer = setup.direct ? new DirectFileWriter(setup.direct, setup.handle) : new BatchedFileWriter(setup.handle);
    this.hash = setup.prefixHash ?? createHash('sha256');
    this.folder = setup.planned.folder;
  }

  digest(): Buffer {
    return this.hash.digest();
  }

  async write(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    try {
      await this.writer.write(chunk);
      if (this.checkpointFailure) throw this.checkpointFailure.error;
    } catch (error) {
      throw storageError(error, this.setup.path);
    }
    const unsure = this.writer.written - this.checkpointed;
    if (this.checkpointing === undefined && unsure >= CHECKPOINT_BYTES) this.checkpoint();
    // A disk slower than the network would let the bytes not yet durable grow without
    // bound, and a crash would cost a resume all of them: past this, wait for the fsync.
    else if (this.checkpointing !== undefined && unsure >= MAX_UNSURE_BYTES) await this.checkpointing;
  }

  /**
   * Makes what the file system has taken so far durable, behind the writes that go on
   * meanwhile. Direct writes are on the device once written, but the file's size is
   * metadata that only the fdatasync makes durable.
   */
  private checkpoint(): void {
    const upTo = this.writer.written;
    const { handle, partial } = this.setup;
    this.checkpointing = handle
      .datasync()
      .then(
        async () => {
          this.checkpointed = upTo;
          // A record not written only leaves an older one, which claims less: a crash then costs more to resume, nothing else.
          await partial?.checkpoint(partial.offset + upTo).catch(() => undefined);
        },
        (error: unknown) => {
          // After a failed fsync the kernel may drop the data it could not write: the upload cannot end well.
          this.checkpointFailure ??= { error };
        },
      )
      .finally(() => {
        this.checkpointing = undefined;
      });
  }

  /** Waits for the checkpoint in progress; throws if any failed. */
  private async checkpointsDone(): Promise<void> {
    await this.checkpointing;
    if (this.checkpointFailure) throw this.checkpointFailure.error;
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.setup.direct?.close().catch(() => undefined);
    await this.setup.handle.close().catch(() => undefined);
    await this.folder.close();
  }

  async commit(sha256: string): Promise<void> {
    const { handle, temp, jail, planned } = this.setup;
    try {
      await this.writer.flush();
      await this.checkpointsDone();
      // Set before the rename, so that no reader sees the file with another time.
      if (this.setup.mtime !== undefined) await handle.utimes(new Date(), new Date(this.setup.mtime));
      await handle.sync();
      // The same inode, size and mtime after the rename: the digest cache's key.
      const stats = await handle.stat();
      // Missing folders are made now, each through the folder above it; the folder the
      // file lands in is checked again, as it may have been moved or swapped since the upload began.
      const place = await jail.build(planned);
      this.folder = place.folder;
      const folder = place.folder.real;
      // Each new folder is made durable in its parent, as the file will be in its folder.
      for (let made = 0, parent = folder; made < planned.missing.length; made++) {
        parent = dirname(parent);
        await folderSyncs.sync(parent);
      }
      if (this.setup.noClobber) {
        await link(temp, place.folder.at(place.name));
        await unlink(temp);
      } else {
        await rename(temp, place.folder.at(place.name));
      }
      // Through the folder held open, which stays open until the fsync is done.
      await folderSyncs.sync(folder, () => place.folder.handle.sync());
      await this.close();
      await this.setup.partial?.forget();
      await this.setup.hold.commit();
      this.setup.digests.set(stats, sha256);
    } catch (error) {
      await this.abort();
      throw storageError(error, this.setup.path);
    }
  }

  async abort(): Promise<void> {
    await this.checkpointing;
    await this.close();
    await unlink(this.setup.temp).catch(() => undefined);
    await this.setup.partial?.forget();
    await this.setup.hold.abort();
  }

  async suspend(): Promise<void> {
    if (!this.setup.resumable) return this.abort();
    await this.writer.flush().catch(() => undefined);
    await this.checkpointing;
    // Everything written is durable once the fsync succeeds: the record says so, for a crash of the machine.
    const synced = !this.checkpointFailure && (await this.setup.handle.sync().then(() => true, () => false));
    if (synced) await this.setup.partial?.checkpoint(this.setup.partial.offset + this.writer.written).catch(() => undefined);
    await this.close();
    await this.setup.hold.suspend();
  }
}
