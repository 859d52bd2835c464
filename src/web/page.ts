/**
 * What the web client's listener sends besides its routes: the page and its two
 * files (served as they are, from memory), and the headers every answer carries.
 */

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The page and its two files, shipped in the package's web/ folder; nothing is built. */
export const ASSETS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'web');
export const ASSETS: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/app.css': 'app.css',
};
export const CONTENT_TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

/** Headers every answer carries: the page runs only its own code and cannot be framed. */
export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Strict-Transport-Security': 'max-age=31536000',
};
