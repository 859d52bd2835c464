/**
 * The client as a single executable (Node's "single executable applications"): a
 * copy of this machine's node with the client bundled in as CommonJS, which runs
 * where no Node is installed. About 100 MB (it is node), so it is its own npm script:
 *
 *   npm run build:sea      writes dist/ferry-<platform>-<arch> (tested: linux-x64)
 *
 * The executable is for the platform and architecture of the node that built it;
 * macOS and Windows would also need their code signatures handled, which this does not do.
 */

import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { bundleClient } from './bundle-client.js';

const run = promisify(execFile);
// Its command line rather than its API: the API prints harmless ELF warnings straight to stderr.
const POSTJECT = createRequire(import.meta.url).resolve('postject/dist/cli.js');
// The marker node's own source names for the blob's slot; fixed for every Node release.
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const SEA_NAME = `ferry-${process.platform}-${process.arch}${process.platform === 'win32' ? '.exe' : ''}`;

/** Builds the executable into OUT_DIR and returns its path. */
export async function buildSingleExecutable(outDir: string): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'ferry-sea-'));
  try {
    const main = await bundleClient(join(work, 'ferry.cjs'), 'cjs');
    const blob = join(work, 'ferry.blob');
    const config = join(work, 'sea-config.json');
    await writeFile(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true }));
    await run(process.execPath, ['--experimental-sea-config', config], { cwd: work });
    const executable = join(outDir, SEA_NAME);
    await copyFile(process.execPath, executable);
    await chmod(executable, 0o755);
    await run(process.execPath, [POSTJECT, executable, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE, '--overwrite'], { cwd: work });
    return executable;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${await buildSingleExecutable(process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url)))}\n`);
}
