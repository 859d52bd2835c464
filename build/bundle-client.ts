/**
 * Builds the single-file client, dist/client/ferry.mjs: the compiled `ferry` and
 * everything it imports in one ES module that runs with `node ferry.mjs` and no
 * node_modules. The server offers this file on its ops port and the npm client
 * package is this file (build/client-package.ts); the single executable carries the
 * same code bundled as CommonJS (build/sea.ts). Run by `npm run build` after tsc.
 */

import { build, type Plugin } from 'esbuild';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
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
  const result = await build({
    entryPoints: [ENTRY],
    outfile,
    write: false,
    metafile: true,
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
  const [output] = result.outputFiles;
  if (output === undefined) throw new Error('esbuild wrote no bundle');
  const notices = await licenseNotices(Object.keys(result.metafile.inputs));
  await mkdir(dirname(outfile), { recursive: true });
  await writeFile(outfile, `${output.text}${notices}`);
  await chmod(outfile, 0o755);
  return outfile;
}

/**
 * The licences of the packages inside the bundle, as a closing comment: the file is
 * handed to other computers on its own, and their licences ask that copies carry them.
 */
async function licenseNotices(inputs: string[]): Promise<string> {
  const packageDirs = new Set(inputs.flatMap((input) => /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1] ?? []));
  const notices: string[] = [];
  for (const dir of [...packageDirs].sort()) {
    const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { name: string; version: string; license?: string };
    const licenseFile = (await readdir(dir)).find((name) => /^licen[cs]e/i.test(name));
    const text = licenseFile === undefined ? '' : `\n${await readFile(join(dir, licenseFile), 'utf8')}`;
    notices.push(`${manifest.name}@${manifest.version} (${manifest.license ?? 'see its package'})${text}`);
  }
  return `/*! Ferry client. Bundled packages and their licences:\n\n${notices.join('\n\n').replaceAll('*/', '* /')}\n*/\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundleClient();
