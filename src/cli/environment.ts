/**
 * The environment variables the client reads, each named here once. FERRY_TLS is
 * the server's setting of that name (config/schema.ts), read by the client too, so
 * that one environment serves both.
 */

import { settingAssignment, settingName } from '../config/schema.js';

export const CLIENT_ENV = {
  server: 'FERRY_SERVER',
  user: 'FERRY_USER',
  password: 'FERRY_PASSWORD',
  passwordFile: 'FERRY_PASSWORD_FILE',
  fingerprint: 'FERRY_FINGERPRINT',
  retries: 'FERRY_RETRIES',
  history: 'FERRY_HISTORY',
  debug: 'FERRY_DEBUG',
  tls: settingName('tls.enabled'),
} as const;

/** TLS turned off, as the server is started and as the client may be told. */
export const TLS_OFF = settingAssignment('tls.enabled', 'false');
