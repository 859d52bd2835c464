/**
 * The environment the client library itself reads or names in its messages, each
 * named here once; the CLI lists them with its own (cli/environment.ts). FERRY_TLS is
 * the server's setting of that name, so hints take it from the config schema.
 */

import { settingAssignment } from '../config/schema.js';

/** Where the pinned certificates live, instead of the client's config folder. */
export const KNOWN_HOSTS_ENV = 'FERRY_KNOWN_HOSTS';

/** TLS turned off, as the server is started and as the client may be told. */
export const TLS_OFF = settingAssignment('tls.enabled', 'false');
