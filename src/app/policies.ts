/** The login and connection policies the configuration sets, for either process model. */

import type { BanPolicy } from '../auth/bans.js';
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
