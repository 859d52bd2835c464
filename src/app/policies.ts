/** The login and connection policies the configuration sets, for either process model. */

import type { Logger } from 'pino';
import { describeBan, type Ban, type BanPolicy } from '../auth/bans.js';
import type { Config } from '../config/config.js';
import type { ConnectionLimits } from '../server/connection-book.js';

export function banPolicy(config: Config): BanPolicy {
  return {
    threshold: config.get('limits.banThreshold'),
    accountThreshold: config.get('limits.accountBanThreshold'),
    windowMs: config.get('limits.banWindow'),
    durationMs: config.get('limits.banDuration'),
  };
}

export function connectionLimits(config: Config): ConnectionLimits {
  return { maxConnections: config.get('limits.maxConnections'), maxConnectionsPerIp: config.get('limits.maxConnectionsPerIp') };
}

export function logBan(logger: Logger, ban: Ban): void {
  logger.warn({ event: 'ban', scope: ban.scope, remote: ban.source, until: new Date(ban.until).toISOString() }, `ban: ${describeBan(ban)}`);
}
