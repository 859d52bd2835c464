/**
 * `ferry shell`: an interactive session over one connection. Asks for the user
 * and password when they are not given (a wrong typed password is asked again),
 * keeps a remote working folder (and the process's own as the local one: lcd,
 * lls, lpwd), completes commands and remote or local names with Tab, quoted as
 * they must be typed, remembers its history between sessions, answers Ctrl-C as
 * bash does, and runs the same commands as the one-shot command line.
 */

import { readdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { sep } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { FerryError, ferryError, systemErrorCode } from '../protocol/errors.js';
import { formatRemotePath, parseRemotePath } from '../protocol/paths.js';
import * as commands from './commands.js';
import { Connection, type LoginOptions } from './connect.js';
import { ExitCode } from './exit-codes.js';
import { Output } from './output.js';
import { HISTORY_LINES, historyFile, loadHistory, remember } from './shell-history.js';
import { COMMANDS, nearestCommand, quoteForShell, scanWords, splitWords, type ScannedWord } from './shell-words.js';

const HELP = `commands (remote paths are relative to the current folder):
  upload|put <local...> [remote-dest] [-d DIR] [--no-clobber] [-v]   send files and folders
  download|get <remote...> [local-dest] [-d DIR] [--no-clobber] [-v]  fetch files and folders
  ls|list [dir]     stat <path>     rm [-r] <path...>     mv <from> <to>
  mkdir <dir>       cd <dir>        pwd                   help      exit|quit
  lcd <dir>         lls [dir]       lpwd                  (the same on this computer)
keys: Tab completes commands and names, Ctrl-C cancels the running command or clears the line, Ctrl-D exits`;

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
