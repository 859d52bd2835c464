// pm2 process file: `pm2 start ecosystem.config.js`.
//
// Fork mode running Ferry's own cluster primary (not pm2 cluster mode): the
// primary aggregates every worker's metrics into one /metrics scrape, which pm2
// cluster mode cannot do. pm2 has a rolling reload only in cluster mode, so here
// `pm2 reload` is `pm2 restart`: the primary drains and exits, a new one starts,
// and clients ride the gap on their retries and resume. For a rolling restart of
// the workers with no refused connection: `pm2 sendSignal SIGHUP ferry`. The
// README's pm2 section says what each verb does.
import { DURATION_UNITS, parseWithUnits, schema, withCurrentNames } from './dist/src/config/config.js';

// The drain timeout as the server reads it (FERRY_DRAIN_TIMEOUT, or the older
// FERRY_DRAIN_TIMEOUT_MS), so that pm2 waits longer than the drain before it kills.
const drainTimeoutMs = Number(parseWithUnits(withCurrentNames(process.env).env.FERRY_DRAIN_TIMEOUT ?? schema.limits.drainTimeout.default, DURATION_UNITS));

// A named export: pm2 require()s this file, and Node returns an ES module's
// named exports as properties (a default export would hide `apps`).
export const apps = [
    {
      name: 'ferry',
      script: './dist/src/cli/ferry-server.js',
      args: 'start',
      exec_mode: 'fork',
      instances: 1,
      // The primary says process.send('ready') once its workers listen.
      wait_ready: true,
      listen_timeout: 20_000,
      // SIGTERM drains; pm2 must wait longer than the drain before it kills.
      kill_signal: 'SIGTERM',
      kill_timeout: drainTimeoutMs + 10_000,
      // Signal the primary only; it stops its workers in order.
      treekill: false,
      autorestart: true,
      max_restarts: 20,
      exp_backoff_restart_delay: 200,
      merge_logs: true,
      // TLS is on by default: the first start makes the certificate in the data
      // folder and logs its fingerprint (pm2 logs ferry | grep fingerprint).
      env: {
        NODE_ENV: 'production',
        FERRY_DRAIN_TIMEOUT: `${drainTimeoutMs}ms`,
      },
    },
];
