/**
 * Builds the single-file client, dist/client/ferry.mjs: the compiled `ferry` and
 * everything it imports in one ES module that runs with `node ferry.mjs` and no
 * node_modules. The server offers this file on its ops port and the npm client
 * package is this file (build/client-package.ts); the single executable carries the
 * same code bundled as CommonJS (build/sea.ts). Run by `npm run build` after tsc.
 */

import { build, type Plugin } from 'esbuild';
import { chmod } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CLIENT_BUNDLE_FILE } from '../src/ops/client-download.js';
import { VERSION } from '../src/version.js';

const ENTRY = fileURLToPath(new URL('../src/cli/ferry.js', import.meta.url));
const VERSION_MODULE = fileURLToPath(new URL('../src/version.js', import.meta.url));

/** The bundle has no package.json beside it: Ferry's version module becomes the value itself. */
const inlineVersion: Plugin = {
  name: 'inline-version',
  setup(build) {
    const filter = new RegExp(`^${VERSION_MODULE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
    build.onLoad({ filter }, () => ({ contents: `export const VERSION = ${JSON.stringify(VERSION)};`, loader: 'js' }));
  },
};

/**
 * An ES module by default; CommonJS for a single executable, whose Node 20 runs a
 * CommonJS main script only.
 */
export async function bundleClient(outfile = CLIENT_BUNDLE_FILE, format: 'esm' | 'cjs' = 'esm'): Promise<string> {
  await build({
    entryPoints: [ENTRY],
    outfile,
    bundle: true,
    platform: 'node',
    format,
    target: 'node20',
    minify: true,
    // Some dependencies are CommonJS and require Node's built-ins; an ES module has no `require` of its own.
    ...(format === 'esm' ? { banner: { js: "import { createRequire as createRequireForBundle } from 'node:module'; const require = createRequireForBundle(import.meta.url);" } } : {}),
    plugins: [inlineVersion],
    logLevel: 'warning',
  });
  await chmod(outfile, 0o755);
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundleClient();
