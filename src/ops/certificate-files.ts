/**
 * Where the server's own certificate pair lives, and for how long a made one is
 * valid. Apart from certificate.ts so that loading a pair never loads the
 * generator (a large library) into every worker.
 */

import { join } from 'node:path';

/** How long a certificate Ferry makes stays valid (the most browsers and Apple accept). */
export const DEFAULT_CERTIFICATE_DAYS = 825;

/** Where a certificate pair lives in `dir`. */
export function certificateFiles(dir: string): { certFile: string; keyFile: string } {
  return { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
}
