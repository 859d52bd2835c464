/**
 * The interactive shell's history, kept between sessions in a file of its own
 * (private to the user: typed lines may name private files).
 */

import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CLIENT_ENV } from './environment.js';

export const HISTORY_LINES = 500;

/** Where the shell keeps its history between sessions: FERRY_HISTORY, else the user's state folder. */
export function historyFile(): string {
  const history = process.env[CLIENT_ENV.history];
  if (history) return history;
  const base = process.platform === 'win32' ? (process.env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local')) : (process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'));
  return join(base, 'ferry', 'shell_history');
}

/** Earlier sessions' lines, newest first (readline's order). */
export async function loadHistory(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((line) => line.trim() !== '').slice(-HISTORY_LINES).reverse();
}

export async function remember(file: string, line: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await appendFile(file, `${line}\n`, { mode: 0o600 });
}
