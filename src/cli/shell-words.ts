/**
 * The words of a shell command line: split honouring quotes (also while a word is
 * still being typed, for Tab), quoted back as they must be typed, and the command
 * nearest to a mistyped one.
 */

import { ferryError } from '../protocol/errors.js';

export const COMMANDS = ['upload', 'put', 'download', 'get', 'ls', 'list', 'stat', 'rm', 'mv', 'mkdir', 'cd', 'pwd', 'lcd', 'lls', 'lpwd', 'help', 'exit', 'quit'];

export interface ScannedWord {
  value: string;
  /** Where the word starts in the line, as typed (quotes included). */
  start: number;
}

/** Words of a command line, honouring quotes; tolerant of an unclosed quote (a word still being typed). */
export function scanWords(line: string): { words: ScannedWord[]; openQuote: '"' | "'" | undefined; inWord: boolean } {
  const words: ScannedWord[] = [];
  let word = '';
  let start = 0;
  let quote: '"' | "'" | undefined;
  let inWord = false;
  let index = 0;
  for (const char of line) {
    if (!inWord && !/\s/.test(char)) start = index;
    if (quote) {
      if (char === quote) quote = undefined;
      else word += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push({ value: word, start });
      word = '';
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
    index += char.length;
  }
  if (inWord) words.push({ value: word, start });
  return { words, openQuote: quote, inWord };
}

/** Splits a command line into words, honouring "double" and 'single' quotes. */
export function splitWords(line: string): string[] {
  const { words, openQuote } = scanWords(line);
  if (openQuote) throw ferryError('USAGE', `unclosed ${openQuote} quote`);
  return words.map((word) => word.value);
}

/**
 * A completed name as it must be typed: quoted when it holds a space or a quote.
 * A folder's quote is left open, so Tab can go on completing inside it.
 */
export function quoteForShell(name: string): string {
  if (!/[\s"']/.test(name)) return name;
  const quote = name.includes('"') ? "'" : '"';
  return name.endsWith('/') ? `${quote}${name}` : `${quote}${name}${quote}`;
}

/** The command nearest to a mistyped one (at most two edits away), for "did you mean". */
export function nearestCommand(typed: string): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of COMMANDS) {
    const distance = editDistance(typed, name);
    if (distance <= Math.min(2, Math.floor(name.length / 2)) && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit (as typos are). */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = rows[i] as number[];
      const above = rows[i - 1] as number[];
      row[j] = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((rows[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}
