/**
 * Asking a person one question on the terminal, answered with a visible line.
 */

import { createInterface } from 'node:readline/promises';
import { ferryError } from '../protocol/errors.js';
import { CLIENT_ENV } from './environment.js';

export async function askLine(question: string): Promise<string> {
  if (!process.stdin.isTTY) throw ferryError('USAGE', `no user given: use -u NAME or ${CLIENT_ENV.user}`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}
