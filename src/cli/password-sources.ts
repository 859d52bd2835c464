/**
 * Passwords that come from somewhere other than a person typing them: a file
 * named by FERRY_PASSWORD_FILE (a Docker or systemd secret, say), or the output
 * of a command (`--password-command "pass show ferry/nas"`, a keychain tool).
 * Neither puts the password in the environment or on a command line, where other
 * processes of the machine could read it.
 */

import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { ferryError } from '../protocol/errors.js';
import { CLIENT_ENV } from './environment.js';

/** Only the one trailing line break an editor or `echo` adds is not part of the password. */
function withoutLineEnd(text: string): string {
  return text.replace(/\r?\n$/, '');
}

export async function passwordFromFile(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch((error: unknown) => {
    throw ferryError('USAGE', `cannot read the password file ${file} (${CLIENT_ENV.passwordFile}): ${(error as Error).message}`, error);
  });
  if (process.platform !== 'win32') {
    const mode = (await stat(file)).mode;
    // As ssh does for keys: say so, but do not refuse (a container's secret may be shared on purpose).
    if ((mode & 0o077) !== 0) process.stderr.write(`ferry: warning: the password file ${file} can be read by other users; chmod 600 ${file}\n`);
  }
  return withoutLineEnd(text);
}

/** Runs `command` in the shell and takes its standard output as the password. */
export function passwordFromCommand(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // stdin and stderr stay the terminal's, so a tool that asks for its own passphrase can.
    const child = spawn(command, { shell: true, stdio: ['inherit', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.once('error', (error) => reject(ferryError('USAGE', `cannot run the password command "${command}": ${error.message}`, error)));
    child.once('close', (code, signal) => {
      if (code !== 0) {
        reject(ferryError('USAGE', `the password command "${command}" failed (${signal ?? `exit code ${code}`}); run it alone to see why`));
        return;
      }
      const password = withoutLineEnd(Buffer.concat(chunks).toString('utf8'));
      if (password === '') reject(ferryError('USAGE', `the password command "${command}" printed nothing`));
      else resolve(password);
    });
  });
}
