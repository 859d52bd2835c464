/**
 * `ferry shell`: an interactive session over one connection. Asks for the user
 * and password when they are not given (a wrong typed password is asked again),
 * keeps a remote working folder (and the process's own as the local one: lcd,
 * lls, lpwd), completes commands and remote or local names with Tab, quoted as
 * they must be typed, remembers its history between sessions, answers Ctrl-C as
 * bash does, and runs the same commands as the one-shot command line.
 */

import { appendFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { FerryError, ferryError, systemErrorCode } from '../protocol/errors.js';
import { formatRemotePath, parseRemotePath } from '../protocol/paths.js';
import * as commands from './commands.js';
import { Connection, type LoginOptions } from './connect.js';
import { ExitCode } from './exit-codes.js';
import { Output } from './output.js';
import { CLIENT_ENV } from './environment.js';

const HELP = `commands (remote paths are relative to the current folder):
  upload|put <local...> [remote-dest] [-d DIR] [--no-clobber] [-v]   send files and folders
  download|get <remote...> [local-dest] [-d DIR] [--no-clobber] [-v]  fetch files and folders
  ls|list [dir]     stat <path>     rm [-r] <path...>     mv <from> <to>
  mkdir <dir>       cd <dir>        pwd                   help      exit|quit
  lcd <dir>         lls [dir]       lpwd                  (the same on this computer)
keys: Tab completes commands and names, Ctrl-C cancels the running command or clears the line, Ctrl-D exits`;

const HISTORY_LINES = 500;

/** Where the shell keeps its history between sessions: FERRY_HISTORY, else the user's state folder. */
function historyFile(): string {
  const history = process.env[CLIENT_ENV.history];
  if (history) return history;
  const base = process.platform === 'win32' ? (process.env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local')) : (process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'));
  return join(base, 'ferry', 'shell_history');
}

/** Earlier sessions' lines, newest first (readline's order). */
async function loadHistory(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((line) => line.trim() !== '').slice(-HISTORY_LINES).reverse();
}

async function remember(file: string, line: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await appendFile(file, `${line}\n`, { mode: 0o600 });
}

const COMMANDS = ['upload', 'put', 'download', 'get', 'ls', 'list', 'stat', 'rm', 'mv', 'mkdir', 'cd', 'pwd', 'lcd', 'lls', 'lpwd', 'help', 'exit', 'quit'];

interface ScannedWord {
  value: string;
  /** Where the word starts in the line, as typed (quotes included). */
  start: number;
}

/** Words of a command line, honouring quotes; tolerant of an unclosed quote (a word still being typed). */
function scanWords(line: string): { words: ScannedWord[]; openQuote: '"' | "'" | undefined; inWord: boolean } {
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

interface Parsed {
  args: string[];
  flags: Set<string>;
  dest: string | undefined;
}

function parseArgs(words: string[]): Parsed {
  const parsed: Parsed = { args: [], flags: new Set(), dest: undefined };
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    if (word === '-d' || word === '--dest') {
      parsed.dest = words[++i];
      if (parsed.dest === undefined) throw ferryError('USAGE', `${word} needs a folder`);
    } else if (word.startsWith('-') && word.length > 1) parsed.flags.add(word);
    else parsed.args.push(word);
  }
  return parsed;
}

class Shell {
  private cwd: string[] = [];

  constructor(
    private readonly connection: Connection,
    private readonly out: Output,
    private readonly user: string,
  ) {}

  get prompt(): string {
    return `ferry ${this.user}:${formatRemotePath(this.cwd)}> `;
  }

  private need(parsed: Parsed, count: number, usage: string): void {
    if (parsed.args.length < count) throw ferryError('USAGE', `usage: ${usage}`);
  }

  /** Runs one line; returns false on exit. */
  async run(line: string): Promise<boolean> {
    const [name, ...rest] = splitWords(line);
    if (name === undefined) return true;
    const parsed = parseArgs(rest);
    const out = parsed.flags.has('-v') ? new Output({ ...this.out.options, verbose: true }) : this.out;
    const env: commands.CommandEnv = { connection: this.connection, out, bars: out.bars, cwd: this.cwd };
    const dest = parsed.dest !== undefined ? { dest: parsed.dest } : {};
    const noClobber = parsed.flags.has('--no-clobber');
    switch (name) {
      case 'exit':
      case 'quit':
        return false;
      case 'help':
        this.out.line(HELP);
        return true;
      case 'pwd':
        this.out.line(formatRemotePath(this.cwd));
        return true;
      case 'cd': {
        const target = commands.remoteFrom(this.cwd, parsed.args[0] ?? '/');
        const entry = await this.connection.recovering((client) => client.stat(target));
        if (entry.type !== 'dir') throw ferryError('NOT_A_DIRECTORY', `${target} is a file, not a folder`);
        this.cwd = parseRemotePath(target);
        return true;
      }
      case 'lpwd':
        this.out.line(process.cwd());
        return true;
      case 'lcd':
        changeLocalFolder(parsed.args[0] ?? homedir());
        return true;
      case 'lls':
        await commands.listLocal(env, parsed.args[0] ?? '.');
        return true;
      case 'upload':
      case 'put':
        this.need(parsed, 1, 'upload <local...> [remote-dest] [-d DIR] [--no-clobber] [-v]');
        await commands.upload(env, parsed.args, { ...dest, noClobber });
        return true;
      case 'download':
      case 'get':
        this.need(parsed, 1, 'download <remote...> [local-dest] [-d DIR] [--no-clobber] [-v]');
        await commands.download(env, parsed.args, { ...dest, noClobber });
        return true;
      case 'ls':
      case 'list':
        await commands.list(env, parsed.args[0] ?? '');
        return true;
      case 'stat':
        this.need(parsed, 1, 'stat <path>');
        await commands.stat(env, parsed.args[0] as string);
        return true;
      case 'rm':
        this.need(parsed, 1, 'rm [-r] <path...>');
        await commands.remove(env, parsed.args, { recursive: parsed.flags.has('-r') });
        return true;
      case 'mv':
        this.need(parsed, 2, 'mv <from> <to>');
        await commands.move(env, parsed.args[0] as string, parsed.args[1] as string, { noClobber });
        return true;
      case 'mkdir':
        this.need(parsed, 1, 'mkdir <dir>');
        await commands.makeDirs(env, parsed.args);
        return true;
      default: {
        const near = nearestCommand(name);
        if (near !== undefined) {
          this.out.problem(`unknown command "${name}"; did you mean "${near}"?`);
        } else {
          this.out.problem(`unknown command "${name}"`);
          this.out.line(HELP);
        }
        return true;
      }
    }
  }

  /**
   * Tab completion: command names first, then local names for the commands that
   * take local paths (upload's sources, lcd, lls, anything after -d of download),
   * else remote names. Names are quoted as they must be typed.
   */
  async complete(line: string): Promise<[string[], string]> {
    const { words, inWord } = scanWords(line);
    const current = inWord ? (words.pop() as ScannedWord) : { value: '', start: line.length };
    const typed = line.slice(current.start);
    if (words.length === 0) return [COMMANDS.filter((c) => c.startsWith(current.value)), typed];
    const command = words[0]?.value ?? '';
    const afterDest = words.at(-1)?.value === '-d' || words.at(-1)?.value === '--dest';
    const local = ['lcd', 'lls'].includes(command) || (['upload', 'put'].includes(command) && !afterDest) || (['download', 'get'].includes(command) && afterDest);
    try {
      const names = local ? await localNames(current.value) : await this.remoteNames(current.value);
      return [names.filter((name) => name.startsWith(current.value)).map(quoteForShell), typed];
    } catch {
      return [[], typed];
    }
  }

  private async remoteNames(prefix: string): Promise<string[]> {
    const slash = prefix.lastIndexOf('/');
    const folder = slash >= 0 ? prefix.slice(0, slash + 1) : '';
    const entries = await this.connection.client.list(commands.remoteFrom(this.cwd, folder));
    return entries.map((e) => `${folder}${e.name}${e.type === 'dir' ? '/' : ''}`);
  }
}

/** Names in the local folder that `prefix` points into, folders with a trailing separator. */
async function localNames(prefix: string): Promise<string[]> {
  const cut = Math.max(prefix.lastIndexOf('/'), prefix.lastIndexOf(sep));
  const folder = cut >= 0 ? prefix.slice(0, cut + 1) : '';
  const entries = await readdir(folder === '' ? '.' : folder, { withFileTypes: true });
  return entries.map((entry) => `${folder}${entry.name}${entry.isDirectory() ? sep : ''}`);
}

function changeLocalFolder(path: string): void {
  try {
    process.chdir(path);
  } catch (error) {
    const code = systemErrorCode(error);
    if (code === 'ENOENT') throw ferryError('NOT_FOUND', `${path} does not exist on this computer`, error);
    if (code === 'ENOTDIR') throw ferryError('NOT_A_DIRECTORY', `${path} is a file, not a folder`, error);
    if (code === 'EACCES') throw ferryError('PERMISSION_DENIED', `cannot enter ${path} (permission denied)`, error);
    throw ferryError('LOCAL_IO', `${path}: ${(error as Error).message}`, error);
  }
}

/**
 * Ctrl-C as bash has it: while a command runs, it cancels the command (its
 * connection is dropped, and a new one made before the next command); at the
 * prompt, it abandons the line being typed.
 */
class Interrupts {
  private running = false;
  private cancelled = false;

  constructor(
    rl: Interface,
    private readonly connection: Connection,
    prompt: () => void,
  ) {
    rl.on('SIGINT', () => {
      if (this.running) {
        this.cancelled = true;
        connection.cancel();
        return;
      }
      process.stdout.write('^C\n');
      rl.write(null, { ctrl: true, name: 'e' });
      rl.write(null, { ctrl: true, name: 'u' });
      prompt();
    });
  }

  /** Runs one command; after a Ctrl-C, the connection is renewed for the next one. */
  async around<T>(command: () => Promise<T>): Promise<T> {
    this.running = true;
    this.cancelled = false;
    try {
      return await command();
    } finally {
      this.running = false;
      if (this.cancelled) await this.connection.reconnect();
    }
  }
}

export async function runShell(options: LoginOptions, out: Output): Promise<ExitCode> {
  const connection = await Connection.open(options);
  const { login, server } = connection;
  const shell = new Shell(connection, out, login.user);
  // Prompts are for people; a script piped into the shell gets only results.
  const interactive = process.stdin.isTTY === true;
  if (interactive) out.note(`connected to ${server} as ${login.user}; type "help" for commands`);
  const history = interactive ? historyFile() : undefined;
  const rl: Interface = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: interactive,
    historySize: HISTORY_LINES,
    history: history ? await loadHistory(history) : [],
    completer: (line: string, callback: (error: null, result: [string[], string]) => void) => {
      void shell.complete(line).then((result) => callback(null, result));
    },
  });
  const prompt = (): void => {
    if (!interactive) return;
    rl.setPrompt(shell.prompt);
    rl.prompt();
  };
  const interrupts = new Interrupts(rl, connection, prompt);
  prompt();
  let exit: ExitCode = ExitCode.OK;
  try {
    for await (const line of rl) {
      if (history && line.trim() !== '') await remember(history, line).catch(() => undefined);
      try {
        if (!(await interrupts.around(() => shell.run(line)))) break;
      } catch (error) {
        if (!(error instanceof FerryError)) throw error;
        out.problem(error.code === 'CANCELLED' ? 'cancelled by Ctrl-C; what had completed is kept' : error.message);
        if (error.code === 'CONNECTION_LOST') {
          exit = ExitCode.CONNECTION;
          break;
        }
      }
      prompt();
    }
  } finally {
    rl.close();
    await connection.close();
  }
  return exit;
}
