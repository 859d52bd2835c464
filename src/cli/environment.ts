/**
 * The environment variables the client reads, each named here once. FERRY_TLS is
 * the server's setting of that name (config/schema.ts), read by the client too, so
 * that one environment serves both.
 */

import { settingName } from '../config/schema.js';
import { KNOWN_HOSTS_ENV } from '../client/environment.js';

export const CLIENT_ENV = {
  server: 'FERRY_SERVER',
  user: 'FERRY_USER',
  password: 'FERRY_PASSWORD',
  passwordFile: 'FERRY_PASSWORD_FILE',
  fingerprint: 'FERRY_FINGERPRINT',
  retries: 'FERRY_RETRIES',
  history: 'FERRY_HISTORY',
  debug: 'FERRY_DEBUG',
  knownHosts: KNOWN_HOSTS_ENV,
  tls: settingName('tls.enabled'),
} as const;

export { TLS_OFF } from '../client/environment.js';
