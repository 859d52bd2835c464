/**
 * The configured storage, opened with its upload ledger, and the periodic sweep
 * of interrupted uploads.
 */

import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { certificateFiles } from '../ops/certificate-files.js';
import { LedgerBooks, loadS3Storage, LocalStorage, type Storage, type UploadLedger } from '../storage/index.js';
import { adminPasswordFile } from './users.js';

async function createStorage(config: Config, ledger: UploadLedger): Promise<Storage> {
  if (config.get('storage') === 's3') {
    // Loaded only when used: the AWS SDK is large, and most hosts keep files on local disk.
    const S3Storage = await loadS3Storage();
    return new S3Storage(config.get('s3'), ledger);
  }
  // Secrets the server keeps on disk stay out of every home, even when configured inside one.
  const own = certificateFiles(resolve(config.get('dataDir'), 'tls'));
  const protectedPaths = [config.get('usersFile'), adminPasswordFile(config), config.get('tls.key') || own.keyFile, config.get('tls.cert') || own.certFile].map((path) => resolve(path));
  return new LocalStorage({ dataDir: resolve(config.get('dataDir')), protectedPaths, symlinks: config.get('symlinks') === 'refuse' ? 'refuse' : 'inside' }, ledger);
}

/** Opens the configured storage, ready for use, booking uploads in `ledger`. */
export async function openStorage(config: Config, ledger: UploadLedger): Promise<Storage> {
  const storage = await createStorage(config, ledger);
  await storage.open();
  return storage;
}

/**
 * Opens the storage of the process that keeps the server's upload ledger (the
 * single process, or the cluster primary), and clears what uploads cut short by
 * the last stop left behind: no upload runs yet, so none of it is in use.
 */
export async function openStorageWithBooks(config: Config, logger: Logger, options: { recover?: boolean } = {}): Promise<{ storage: Storage; books: LedgerBooks }> {
  let opened: Storage | undefined;
  const books = new LedgerBooks((root) => {
    if (!opened) throw new Error('the storage is not open yet');
    return opened.measure(root);
  }, config.get('limits.quotaRescan'));
  const storage = await openStorage(config, books.as('primary'));
  opened = storage;
  if (options.recover === false) return { storage, books };
  const removed = await storage.recover();
  if (removed > 0) logger.info({ event: 'recovered', removed }, `removed ${removed} temp files of uploads cut short when the server last stopped`);
  return { storage, books };
}

/** The folder whose volume `ferry_storage_free_bytes` reports: local storage only. */
export function localStorageDir(config: Config): string | undefined {
  return config.get('storage') === 'local' ? resolve(config.get('dataDir')) : undefined;
}

/** How often interrupted uploads are checked for staleness (at most; also at start). */
const SWEEP_INTERVAL_MS = 3_600_000;

/** Removes stale partial uploads now and then on a timer; returns a function that stops it. */
export function sweepPartialsPeriodically(storage: Storage, maxAgeMs: number, logger: Logger): () => void {
  const sweep = (): void => {
    storage.sweepPartials(maxAgeMs).then(
      (removed) => {
        if (removed > 0) logger.info({ event: 'partials-swept', removed }, `removed ${removed} stale partial uploads`);
      },
      (error: unknown) => logger.warn({ err: error }, 'could not sweep partial uploads'),
    );
  };
  sweep();
  const timer = setInterval(sweep, Math.min(SWEEP_INTERVAL_MS, Math.max(maxAgeMs / 4, 1000)));
  timer.unref();
  return () => clearInterval(timer);
}
