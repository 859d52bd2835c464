/**
 * The client package: what `npm install -g ./ferry-<version>.tgz` puts on another
 * computer. It holds the single-file client (build/bundle-client.ts) as the `ferry`
 * command and nothing else, so it has no dependencies to fetch: the install works
 * offline and brings none of the server's (the AWS SDK, pm2, the native argon2).
 *
 *   node dist/build/client-package.js [OUT_DIR]    (npm run pack:client: dist/)
 *
 * The package is named under a scope rather than plainly `ferry`: npm resolves a
 * global package by its name on `npm update -g` and `npm install -g NAME`, and
 * the unscoped name belongs to somebody else on the public registry.
 */

import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CLIENT_BUNDLE_FILE } from '../src/ops/client-download.js';
import { VERSION } from '../src/version.js';

export const CLIENT_PACKAGE_NAME = '@ferry-lan/client';
const ROOT_MANIFEST = fileURLToPath(new URL('../../package.json', import.meta.url));
const run = promisify(execFile);

/** npm as a child, free of the npm_* settings an enclosing `npm run` or `npm test` exports. */
async function npm(args: string[], cwd: string): Promise<string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  const { stdout } = await run(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, {
    cwd,
    env: { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' },
    maxBuffer: 16 * 1024 * 1024,
    shell: process.platform === 'win32',
  });
  return stdout;
}

function clientManifest(root: { license: string; engines: Record<string, string> }): object {
  return {
    name: CLIENT_PACKAGE_NAME,
    version: VERSION,
    description: 'Ferry client: move files to and from a Ferry server, intact',
    type: 'module',
    license: root.license,
    engines: root.engines,
    bin: { ferry: 'ferry.mjs' },
    // Handed out as a tarball (and by the server itself), never published by accident.
    private: true,
  };
}

const README = `# Ferry client

\`ferry\`, the command line for a Ferry file server. \`ferry --help\` lists the
commands; \`ferry -s HOST:PORT -u NAME ls\` is a first one to try.
`;

/** Packs the client into OUT_DIR/ferry-<version>.tgz and returns that path. */
export async function packClient(outDir: string): Promise<string> {
  const stage = await mkdtemp(join(tmpdir(), 'ferry-client-package-'));
  try {
    const root = JSON.parse(await readFile(ROOT_MANIFEST, 'utf8')) as { license: string; engines: Record<string, string> };
    await writeFile(join(stage, 'package.json'), `${JSON.stringify(clientManifest(root), null, 2)}\n`);
    await writeFile(join(stage, 'README.md'), README);
    await copyFile(CLIENT_BUNDLE_FILE, join(stage, 'ferry.mjs'));
    const [packed] = JSON.parse(await npm(['pack', stage, '--json', '--pack-destination', resolve(outDir)], stage)) as { filename: string }[];
    if (packed === undefined) throw new Error('npm pack made no tarball');
    const tarball = join(resolve(outDir), `ferry-${VERSION}.tgz`);
    await rename(join(resolve(outDir), packed.filename), tarball);
    return tarball;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/**
 * Installs a packed client the way the README says, into PREFIX (as `npm install -g`
 * does into the system's), from `cwd`, without the registry. Returns the `ferry` command.
 */
export async function installClient(tarball: string, prefix: string, cwd: string): Promise<string> {
  await npm(['install', '--global', '--offline', '--prefix', prefix, tarball], cwd);
  return process.platform === 'win32' ? join(prefix, 'ferry.cmd') : join(prefix, 'bin', 'ferry');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${await packClient(process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url)))}\n`);
}
