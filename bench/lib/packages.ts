/**
 * The baselines' programs come from Debian. Run as root, the bench installs those
 * that are missing; a daemon must not start on install (it would listen on every
 * interface), so a policy-rc.d that forbids it is put in place for the install when
 * the machine has none.
 */

import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { isRoot, run, which } from './processes.js';

/** The Debian package that brings each program the baselines run. */
const PACKAGE_OF: Record<string, string> = {
  rsync: 'rsync',
  vsftpd: 'vsftpd',
  curl: 'curl',
  lftp: 'lftp',
  sshd: 'openssh-server',
  sftp: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  'nc.openbsd': 'netcat-openbsd',
  tar: 'tar',
  bash: 'bash',
  time: 'time',
};

const POLICY_RC_D = '/usr/sbin/policy-rc.d';

export async function ensurePrograms(programs: readonly string[], log: (line: string) => void): Promise<void> {
  const missing = programs.filter((program) => which(program) === undefined);
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((program) => PACKAGE_OF[program] ?? program))];
  if (!isRoot) {
    log(`missing ${missing.join(', ')}; not root, so not installing ${packages.join(' ')} (their baselines are skipped)`);
    return;
  }
  log(`installing ${packages.join(' ')} for the baselines (apt-get)...`);
  const placedPolicy = !existsSync(POLICY_RC_D);
  if (placedPolicy) await writeFile(POLICY_RC_D, '#!/bin/sh\n# Placed by the Ferry bench during apt-get install: start no service.\nexit 101\n', { mode: 0o755 });
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { env, timeoutMs: 600_000 });
  try {
    await install().catch(async () => {
      await run('apt-get', ['update'], { env, timeoutMs: 300_000 });
      await install();
    });
  } catch (error) {
    log(`apt-get could not install them (${(error as Error).message.split('\n')[0]}); their baselines are skipped`);
  } finally {
    if (placedPolicy) await rm(POLICY_RC_D, { force: true });
  }
}
