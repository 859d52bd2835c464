/**
 * `ferry shell`: an interactive session over one connection. Asks for the user
 * and password when they are not given, keeps a remote working folder, completes
 * command and remote names with Tab, remembers its history between sessions, and
 * runs the same commands as the one-shot command line.
 */

import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { FerryError, ferryError } from '../protocol/errors.js';
import { formatRemotePath, parseRemotePath } from '../protocol/paths.js';
import * as commands from './commands.js';
import { Connection, type ConnectionOptions } from './connect.js';
import { ExitCode } from './exit-codes.js';
import { Output } from './output.js';

const HELP = `commands (remote paths are relative to the current folder):
  upload|put <local...> [-d DIR] [--no-clobber]   send files and folders
  download|get <remote...> [-d DIR]               fetch files and folders
  ls|list [dir]     stat <path>     rm [-r] <path...>     mv <from> <to>
  mkdir <dir>       cd <dir>        pwd                   help      exit|quit`;

const HISTORY_LINES = 500;

/** Where the shell keeps its history between sessions: FERRY_HISTORY, else the user's state folder. */
function historyFile(): string {
  if (process.env.FERRY_HISTORY) return process.env.FERRY_HISTORY;
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

const COMMANDS = ['upload', 'put', 'download', 'get', 'ls', 'list', 'stat', 'rm', 'mv', 'mkdir', 'cd', 'pwd', 'help', 'exit', 'quit'];

/** Splits a command line into words, honouring "double" and 'single' quotes. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote: '"' | "'" | undefined;
  let inWord = false;
  for (const char of line) {
    if (quote) {
      if (char === quote) quote = undefined;
      else word += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (quote) throw ferryError('USAGE', `unclosed ${quote} quote`);
  if (inWord) words.push(word);
  return words;
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

  /** A remote path as typed, made relative to the home. */
  private resolve(path: string): string {
    return path.startsWith('/') ? path : formatRemotePath([...this.cwd, ...parseRemotePath(path)]);
  }

  private need(parsed: Parsed, count: number, usage: string): void {
    if (parsed.args.length < count) throw ferryError('USAGE', `usage: ${usage}`);
  }

  /** Runs one line; returns false on exit. */
  async run(line: string): Promise<boolean> {
    const [name, ...rest] = splitWords(line);
    if (name === undefined) return true;
    const parsed = parseArgs(rest);
    const env = { connection: this.connection, out: this.out, bars: this.out.bars };
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
        const target = this.resolve(parsed.args[0] ?? '/');
        const entry = await this.connection.recovering((client) => client.stat(target));
        if (entry.type !== 'dir') throw ferryError('NOT_A_DIRECTORY', `${target} is a file, not a folder`);
        this.cwd = parseRemotePath(target);
        return true;
      }
      case 'upload':
      case 'put':
        this.need(parsed, 1, 'upload <local...> [-d DIR] [--no-clobber]');
        await commands.upload(env, parsed.args, { dest: this.resolve(parsed.dest ?? '.'), noClobber: parsed.flags.has('--no-clobber') });
        return true;
      case 'download':
      case 'get':
        this.need(parsed, 1, 'download <remote...> [-d DIR]');
        await commands.download(env, parsed.args.map((p) => this.resolve(p)), { dest: parsed.dest ?? '.' });
        return true;
      case 'ls':
      case 'list':
        await commands.list(env, this.resolve(parsed.args[0] ?? '.'));
        return true;
      case 'stat':
        this.need(parsed, 1, 'stat <path>');
        await commands.stat(env, this.resolve(parsed.args[0] as string));
        return true;
      case 'rm':
        this.need(parsed, 1, 'rm [-r] <path...>');
        await commands.remove(env, parsed.args.map((p) => this.resolve(p)), { recursive: parsed.flags.has('-r') });
        return true;
      case 'mv':
        this.need(parsed, 2, 'mv <from> <to>');
        await commands.move(env, this.resolve(parsed.args[0] as string), this.resolve(parsed.args[1] as string), { noClobber: parsed.flags.has('--no-clobber') });
        return true;
      case 'mkdir':
        this.need(parsed, 1, 'mkdir <dir>');
        await commands.makeDirs(env, parsed.args.map((p) => this.resolve(p)));
        return true;
      default:
        this.out.problem(`unknown command "${name}"`);
        this.out.line(HELP);
        return true;
    }
  }

  /** Tab completion: command names first, then names in the remote folder. */
  async complete(line: string): Promise<[string[], string]> {
    const words = line.split(/\s+/);
    const current = words.at(-1) ?? '';
    if (words.length <= 1) return [COMMANDS.filter((c) => c.startsWith(current)), current];
    const slash = current.lastIndexOf('/');
    const folder = slash >= 0 ? current.slice(0, slash + 1) : '';
    try {
      const entries = await this.connection.client.list(this.resolve(folder || '.'));
      const names = entries.map((e) => `${folder}${e.name}${e.type === 'dir' ? '/' : ''}`);
      return [names.filter((n) => n.startsWith(current)), current];
    } catch {
      return [[], current];
    }
  }
}

export async function runShell(options: ConnectionOptions, out: Output): Promise<ExitCode> {
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
  prompt();
  let exit: ExitCode = ExitCode.OK;
  try {
    for await (const line of rl) {
      if (history && line.trim() !== '') await remember(history, line).catch(() => undefined);
      try {
        if (!(await shell.run(line))) break;
      } catch (error) {
        if (!(error instanceof FerryError)) throw error;
        out.problem(error.message);
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
