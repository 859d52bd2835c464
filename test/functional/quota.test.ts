import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import { ferry } from '../helpers/cli.js';
import { randomFile, tempDir } from '../helpers/files.js';
import { addUserWithQuota, startClusterServer, startServer } from '../helpers/server.js';
import { BACKENDS, type Backend, type StoredFiles } from '../helpers/stored.js';

const MODES = ['single process', 'cluster'] as const;

/** A server in one process (in the test's), or a cluster of two workers (the default process model). */
async function quotaServer(
  t: ExecutionContext,
  mode: (typeof MODES)[number],
  backend: Backend,
  defaultQuota = 0,
): Promise<{ dataDir: string; usersFile: string; env: Record<string, string>; stored: StoredFiles }> {
  if (mode === 'cluster') return startClusterServer(t, { backend, env: { FERRY_QUOTA: String(defaultQuota) } });
  const server = await startServer(t, { backend, limits: { defaultQuota } });
  return { ...server, usersFile: server.users.path };
}

// Quotas hold on every storage backend, whichever process model serves them.
for (const [backend, mode] of BACKENDS.flatMap((backend) => MODES.map((mode) => [backend, mode] as const))) {
  test(`${backend}, ${mode}: an upload that would overfill the quota is refused with exit code 7 before any data is written; replacing and deleting count`, async (t) => {
    const server = await quotaServer(t, mode, backend);
    const env = await addUserWithQuota(t, server, 'dana', '10MiB');
    const local = await tempDir(t);
    await randomFile(join(local, 'six.bin'), 6 * 1024 * 1024);
    await randomFile(join(local, 'five.bin'), 5 * 1024 * 1024);
    await randomFile(join(local, 'three.bin'), 3 * 1024 * 1024);

    t.is((await ferry(['upload', join(local, 'six.bin')], { env })).code, 0);
    const over = await ferry(['upload', join(local, 'five.bin')], { env });
    t.is(over.code, 7, over.stderr);
    t.regex(over.stderr, /does not fit in your quota of 10485760 bytes \(6291456 in use\); delete something first/);
    t.deepEqual(await server.stored.names('dana'), ['six.bin'], 'nothing of the refused file was stored');
    t.deepEqual(await server.stored.leftovers(), []);

    t.is((await ferry(['mv', '/six.bin', '/big.bin'], { env })).code, 0);
    t.is((await ferry(['upload', join(local, 'three.bin')], { env })).code, 0, '6 + 3 MiB fits in 10 MiB');
    t.is((await ferry(['upload', join(local, 'three.bin')], { env })).code, 0, 'replacing three.bin with itself keeps the total');
    t.is((await ferry(['rm', '/big.bin'], { env })).code, 0);
    t.is((await ferry(['upload', join(local, 'five.bin')], { env })).code, 0, 'after a delete there is room again');
  });

  test(`${backend}, ${mode}: FERRY_QUOTA is the default quota of users who have none of their own`, async (t) => {
    const server = await quotaServer(t, mode, backend, 1024 * 1024);
    const local = await tempDir(t);
    await randomFile(join(local, 'two.bin'), 2 * 1024 * 1024);
    const result = await ferry(['upload', join(local, 'two.bin')], { env: server.env });
    t.is(result.code, 7);
    t.regex(result.stderr, /quota of 1048576 bytes/);
  });
}
