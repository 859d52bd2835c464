/**
 * The one folder the client keeps its files in (saved servers, pinned
 * certificates): %APPDATA%\ferry on Windows, ~/Library/Application Support/ferry
 * on macOS, $XDG_CONFIG_HOME/ferry elsewhere (a relative XDG_CONFIG_HOME is
 * ignored, as the XDG spec says, for it would depend on the working folder).
 */

import { homedir } from 'node:os';
import { posix, win32 } from 'node:path';

export interface Place {
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  home?: string;
}

/** The path functions of `platform`, so paths come out right whatever the tests run on. */
export function pathsOf(platform: NodeJS.Platform): typeof posix {
  return platform === 'win32' ? win32 : posix;
}

export function clientConfigFolder({ env = process.env, platform = process.platform, home = homedir() }: Place = {}): string {
  if (platform === 'win32') return win32.join(env.APPDATA ?? win32.join(home, 'AppData', 'Roaming'), 'ferry');
  if (platform === 'darwin') return posix.join(home, 'Library', 'Application Support', 'ferry');
  const base = env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : posix.join(home, '.config');
  return posix.join(base, 'ferry');
}
