/**
 * A real S3-compatible server for tests: s3rver in a child process on 127.0.0.1
 * and an ephemeral port, with one bucket, in a temporary folder. s3rver needs
 * path-style addressing, and the SDK's checksums only when an operation requires
 * them; the S3 backend sets the latter itself.
 */

import { S3Client } from '@aws-sdk/client-s3';
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { S3StorageOptions } from '../../src/storage/s3/index.js';
import { tempDir } from './files.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 's3rver-main.js');
const BUCKET = 'ferry';
/** s3rver's fixed credentials. */
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** Options for an S3Storage on this server. */
  options: S3StorageOptions;
  /** Environment that points a `ferry-server` at this server. */
  env: Record<string, string>;
  /** A client for looking at the bucket directly. */
  client: S3Client;
  /** Stops the server (the bucket stays on disk for a restart). */
  stop(): Promise<void>;
}

export async function startS3(t: ExecutionContext): Promise<TestS3> {
  const directory = await tempDir(t, 'ferry-s3-');
  // s3rver makes its continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider.
  const child = spawn(process.execPath, ['--openssl-legacy-provider', MAIN, directory, BUCKET], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
  };
  t.teardown(stop);
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => String(line)),
    once(child, 'exit').then(() => {
      throw new Error(`s3rver exited before listening: ${stderr}`);
    }),
  ]);
  const { port } = JSON.parse(first) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  t.teardown(() => client.destroy());
  return {
    endpoint,
    bucket: BUCKET,
    options: { endpoint, bucket: BUCKET, region: 'us-east-1', ...CREDENTIALS, forcePathStyle: true, prefix: '', partSize: 5 * 2 ** 20, queueSize: 4 },
    env: {
      FERRY_STORAGE: 's3',
      FERRY_S3_ENDPOINT: endpoint,
      FERRY_S3_BUCKET: BUCKET,
      FERRY_S3_REGION: 'us-east-1',
      FERRY_S3_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      FERRY_S3_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      FERRY_S3_FORCE_PATH_STYLE: 'true',
    },
    client,
    stop,
  };
}
