/**
 * Ferry's version, read from package.json: the one place it is written. The
 * single-file client has no package.json beside it, so its bundler replaces
 * this module with the same value (build/bundle-client.ts).
 */

import { createRequire } from 'node:module';

// Relative to the compiled file, dist/src/version.js.
const manifest = createRequire(import.meta.url)('../../package.json') as { version: string };

export const VERSION: string = manifest.version;
