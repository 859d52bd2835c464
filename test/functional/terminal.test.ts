/**
 * The client command line on a real terminal: `ferry shell` driven key by key
 * through tmux (prompts, hidden password, Tab completion), and progress bars on a
 * pseudo-terminal against the same command with its output piped.
 */

import test, { type ExecutionContext } from 'ava';
import { execFile, spawn } from 'node:child_process';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FERRY_BIN, ferry } from '../helpers/cli.js';
import { freshKnownHostsFile } from '../helpers/tls.js';
import { randomFile, sha256File, tempDir } from '../helpers/files.js';
import { ADMIN, startServer, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);

/** How long a terminal may take to show what a step expects (a screen offers no event to await). */
const SCREEN_TIMEOUT_MS = 20_000;
const POLL_MS = 50;
const COLUMNS = 200;
const ROWS = 50;

/** Big enough that a paced upload keeps its bars on screen for seconds. */
const BIG_FILE_BYTES = 8 * 1024 * 1024;
/** The server paces each connection to this, so 8 MiB take about 3 s (the first second's worth is free). */
const PACED_BYTES_PER_SECOND = 2 * 1024 * 1024;

/** A file bar and the total bar as cli-progress draws them: bytes, rate and ETA. */
const FILE_BAR = /\/big\.bin +\|[█░]{10,}\| +\d{1,3}% [\d.]+ (?:B|KiB|MiB)\/8\.00 MiB [\d.]+ (?:B|KiB|MiB)\/s ETA \S+/;
const TOTAL_BAR = /total(?: \(1 files\))? +\|[█░]{10,}\| +\d{1,3}% [\d.]+ (?:B|KiB|MiB)\/8\.00 MiB [\d.]+ (?:B|KiB|MiB)\/s ETA \S+/;
/** The escape sequence cli-progress writes first, to hide the cursor while it draws. */
const HIDE_CURSOR = '\u001b[?25l';
const SHOW_CURSOR = '\u001b[?25h';

/** The shell's prompt, `ferry admin:/some/folder> ` (a trailing space may be trimmed by capture-pane). */
const PROMPT = /^ferry admin:\/\S*>(?: |$)/gm;

/** What a terminal's programs start with: this process's environment without Ferry's variables, plus `env`. */
function terminalEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  // History goes nowhere unless a test names a file: never into the real user's.
  const base: NodeJS.ProcessEnv = { ...process.env, SHELL: '/bin/sh', FERRY_HISTORY: '/dev/null' };
  for (const key of ['FERRY_SERVER', 'FERRY_USER', 'FERRY_PASSWORD', 'FERRY_FINGERPRINT', 'FERRY_TLS', 'TMUX', 'TMUX_PANE']) delete base[key];
  return { ...base, FERRY_KNOWN_HOSTS: freshKnownHostsFile(), ...env };
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

interface Terminal {
  /** Everything the terminal shows, scrollback included, wrapped lines joined. */
  screen(): Promise<string>;
  /** Types `text` as literal keys. */
  type(text: string): Promise<void>;
  /** Presses named keys (`Enter`, `Tab`). */
  press(...keys: string[]): Promise<void>;
  /** Polls the screen until `check` holds, and returns that screen. */
  waitFor(what: string, check: (screen: string) => boolean): Promise<string>;
  /** Waits for the program to end and returns its exit code. */
  exited(): Promise<number>;
}

/** The line a terminal's shell prints after the program, with its exit status. */
const EXIT_LINE = /^EXIT=(\d+)$/m;

/** Runs `argv` in a detached tmux session of its own (own socket), killed when the test ends. */
async function openTerminal(t: ExecutionContext, argv: string[], env: Record<string, string>): Promise<Terminal> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-tty-'));
  const socket = join(dir, 'tmux.sock');
  const tmux = async (...args: string[]): Promise<string> => (await run('tmux', ['-S', socket, ...args], { env: terminalEnv(env) })).stdout;
  t.teardown(async () => {
    await tmux('kill-server').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  // The exit status is printed on the screen (tmux's own #{pane_dead_status} is
  // sometimes left empty), and remain-on-exit keeps the screen readable afterwards.
  await tmux(
    '-f', '/dev/null', 'start-server', ';',
    'set-option', '-g', 'remain-on-exit', 'on', ';',
    'new-session', '-d', '-x', String(COLUMNS), '-y', String(ROWS), '-s', 'ferry', '--', 'sh', '-c', '"$@"; echo "EXIT=$?"', 'sh', ...argv,
  );
  const screen = (): Promise<string> => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'ferry');
  const poll = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + SCREEN_TIMEOUT_MS;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`${what}: not seen within ${SCREEN_TIMEOUT_MS} ms; the terminal shows:\n${await screen()}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  };
  return {
    screen,
    async type(text) {
      await tmux('send-keys', '-t', 'ferry', '-l', '--', text);
    },
    async press(...keys) {
      await tmux('send-keys', '-t', 'ferry', ...keys);
    },
    waitFor(what, check) {
      return poll(what, async () => {
        const shown = await screen();
        return check(shown) ? shown : undefined;
      });
    },
    exited() {
      return poll('the program ending', async () => {
        const status = EXIT_LINE.exec(await screen())?.[1];
        return status === undefined ? undefined : Number(status);
      });
    },
  };
}

/**
 * Runs `argv` on a fresh pseudo-terminal (util-linux script), typing `keys` into
 * it, and returns every byte it wrote there, escape sequences included.
 */
function onPseudoTerminal(argv: string[], env: Record<string, string>, keys = ''): Promise<{ code: number | null; transcript: string }> {
  const command = `stty cols ${COLUMNS} rows ${ROWS} && exec ${argv.map(shellQuote).join(' ')}`;
  const child = spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], { env: terminalEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  let transcript = '';
  child.stdout.on('data', (chunk: Buffer) => (transcript += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (transcript += chunk.toString()));
  // Left open: an end of input would reach the program as Ctrl-D. A program that
  // ended before reading its keys shows in the transcript, not as a pipe error.
  child.stdin.on('error', () => undefined);
  child.stdin.write(keys);
  const timer = setTimeout(() => child.kill('SIGKILL'), SCREEN_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, transcript });
    });
  });
}

function ferryArgv(...args: string[]): string[] {
  return [process.execPath, FERRY_BIN, ...args];
}

function promptCount(screen: string): number {
  return screen.match(PROMPT)?.length ?? 0;
}

/** The last line showing the shell's prompt, with what has been typed after it. */
function promptLine(screen: string): string {
  return screen.split('\n').filter((line) => new RegExp(PROMPT.source).test(line)).at(-1) ?? '';
}

/** Types a line at the shell's prompt and returns what the terminal showed from that prompt to the next one. */
async function enter(term: Terminal, line: string): Promise<string> {
  const before = promptCount(await term.screen());
  await term.type(line);
  await term.press('Enter');
  const screen = await term.waitFor(`the prompt after "${line}"`, (shown) => promptCount(shown) > before);
  const starts = [...screen.matchAll(PROMPT)].map((match) => match.index);
  return screen.slice(starts[before - 1], starts[before]);
}

/** Answers the hidden password prompt of a shell and waits for its first prompt. */
async function typePassword(term: Terminal, password: string): Promise<string> {
  await term.waitFor('the password prompt', (shown) => /^Password for admin: ?$/m.test(shown));
  await term.type(password);
  await term.press('Enter');
  return term.waitFor('the first shell prompt', (shown) => promptCount(shown) > 0 || /^ferry: /m.test(shown));
}

async function pacedServer(t: ExecutionContext): Promise<TestServer> {
  return startServer(t, { limits: { bandwidthLimit: PACED_BYTES_PER_SECOND } });
}

async function bigFile(t: ExecutionContext): Promise<string> {
  const path = join(await tempDir(t), 'big.bin');
  await randomFile(path, BIG_FILE_BYTES);
  return path;
}

test('the shell asks for the password on the terminal, never shows what is typed, and exit ends it with code 0', async (t) => {
  const server = await startServer(t);
  const term = await openTerminal(t, ferryArgv('shell'), { FERRY_SERVER: server.env.FERRY_SERVER as string, FERRY_FINGERPRINT: server.env.FERRY_FINGERPRINT as string, FERRY_USER: ADMIN.user });

  const screen = await typePassword(term, ADMIN.password);
  t.regex(screen, /^Password for admin: ?$/m, 'the prompt line stays empty while the password is typed');
  t.false(screen.includes(ADMIN.password), 'the typed password never appears on the screen');
  t.regex(screen, new RegExp(`^connected to 127\\.0\\.0\\.1:${server.port} as admin; type "help" for commands$`, 'm'));
  t.regex(promptLine(screen), /^ferry admin:\/>/);

  t.regex(await enter(term, 'pwd'), /^\/$/m, 'the session works after the typed password');
  await term.type('exit');
  await term.press('Enter');
  t.is(await term.exited(), 0);
  t.false((await term.screen()).includes(ADMIN.password));
});

test('on a terminal the shell runs help, mkdir, cd, upload, ls and download, survives an unknown command, and completes remote names with Tab', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  const back = await tempDir(t);
  const file = join(local, 'field-notes.txt');
  await randomFile(file, 256 * 1024);
  const term = await openTerminal(t, ferryArgv('shell'), { FERRY_SERVER: server.env.FERRY_SERVER as string, FERRY_FINGERPRINT: server.env.FERRY_FINGERPRINT as string, FERRY_USER: ADMIN.user });
  await typePassword(term, ADMIN.password);

  const help = await enter(term, 'help');
  for (const command of ['upload|put', 'download|get', 'ls|list', 'stat', 'rm', 'mv', 'mkdir', 'cd', 'pwd', 'help', 'exit|quit']) {
    t.true(help.includes(command), `help lists ${command}`);
  }

  t.regex(await enter(term, 'mkdir box'), /^created \/box$/m);
  await enter(term, 'cd box');
  t.regex(promptLine(await term.screen()), /^ferry admin:\/box>/, 'the prompt shows the new remote folder');

  t.regex(await enter(term, `upload "${file}"`), /^uploaded .*field-notes\.txt -> \/box\/field-notes\.txt \(256\.0 KiB\)$/m);
  t.regex(await enter(term, 'ls'), /^- +256\.0 KiB +\d{4}-\d\d-\d\d \d\d:\d\d +field-notes\.txt$/m);

  t.regex(await enter(term, `download field-notes.txt -d "${back}"`), /^downloaded \/box\/field-notes\.txt -> .*field-notes\.txt \(256\.0 KiB\)$/m);
  t.is(await sha256File(join(back, 'field-notes.txt')), await sha256File(file), 'the download is byte for byte the upload');

  const unknown = await enter(term, 'frobnicate');
  t.regex(unknown, /^ferry: unknown command "frobnicate"$/m);
  t.regex(unknown, /^commands \(remote paths are relative to the current folder\):$/m, 'the help follows the error');

  const before = promptCount(await term.screen());
  await term.type('stat fi');
  await term.press('Tab');
  await term.waitFor('"stat fi" completed by Tab', (shown) => /^ferry admin:\/box> stat field-notes\.txt/.test(promptLine(shown)));
  await term.press('Enter');
  const stat = await term.waitFor('the result of the completed stat', (shown) => promptCount(shown) > before);
  t.regex(stat, /^path: {3}\/box\/field-notes\.txt$/m);
  t.regex(stat, new RegExp(`^sha256: ${await sha256File(file)}$`, 'm'));

  await term.type('exit');
  await term.press('Enter');
  t.is(await term.exited(), 0);
});

test('with no user given the shell asks "User: " first, then the hidden password', async (t) => {
  const server = await startServer(t);
  const term = await openTerminal(t, ferryArgv('shell'), { FERRY_SERVER: server.env.FERRY_SERVER as string, FERRY_FINGERPRINT: server.env.FERRY_FINGERPRINT as string });

  const asked = await term.waitFor('the user prompt', (shown) => /^User: ?$/m.test(shown));
  t.notRegex(asked, /Password/, 'the user is asked before the password');
  await term.type(ADMIN.user);
  await term.press('Enter');
  const screen = await typePassword(term, ADMIN.password);
  t.regex(screen, /^User: admin$/m, 'the user name is echoed as typed');
  t.regex(screen, /^Password for admin: ?$/m);
  t.false(screen.includes(ADMIN.password), 'the typed password never appears on the screen');
  t.regex(screen, /^connected to .* as admin; type "help" for commands$/m);

  await term.type('exit');
  await term.press('Enter');
  t.is(await term.exited(), 0);
});

function passwordPrompts(screen: string): number {
  return screen.match(/^Password for admin: ?$/gm)?.length ?? 0;
}

test('a wrong password typed at the prompt is asked again, as ssh does, and the right one then opens the session', async (t) => {
  const server = await startServer(t);
  const term = await openTerminal(t, ferryArgv('shell'), { FERRY_SERVER: server.env.FERRY_SERVER as string, FERRY_FINGERPRINT: server.env.FERRY_FINGERPRINT as string, FERRY_USER: ADMIN.user });

  await typePassword(term, 'not-the-password');
  const again = await term.waitFor('the second password prompt', (shown) => passwordPrompts(shown) === 2);
  t.regex(again, /^ferry: wrong user name or password.*; try again$/m);
  await term.type(ADMIN.password);
  await term.press('Enter');
  await term.waitFor('the first shell prompt', (shown) => promptCount(shown) > 0);
  t.regex(await enter(term, 'pwd'), /^\/$/m);
  await term.type('exit');
  await term.press('Enter');
  t.is(await term.exited(), 0);
  t.false((await term.screen()).includes('not-the-password'));
});

test('three wrong passwords at the prompt end the shell with exit code 3 and say so', async (t) => {
  const server = await startServer(t);
  const term = await openTerminal(t, ferryArgv('shell'), { FERRY_SERVER: server.env.FERRY_SERVER as string, FERRY_FINGERPRINT: server.env.FERRY_FINGERPRINT as string, FERRY_USER: ADMIN.user });

  for (let tries = 1; tries <= 3; tries++) {
    await term.waitFor(`password prompt ${tries}`, (shown) => passwordPrompts(shown) === tries);
    await term.type(`wrong-${tries}`);
    await term.press('Enter');
  }
  t.is(await term.exited(), 3);
  const screen = await term.screen();
  t.is(passwordPrompts(screen), 3, 'three tries in all');
  t.regex(screen, /^ferry: wrong user name or password/m);
  t.is(promptCount(screen), 0, 'no session starts');
  t.false(screen.includes('wrong-1'));
});

test('Ctrl-C during an upload in the shell cancels it, and the shell goes on taking commands', async (t) => {
  const server = await pacedServer(t);
  const file = await bigFile(t);
  const term = await openTerminal(t, ferryArgv('shell'), { ...server.env, FERRY_HISTORY: '/dev/null' });
  await term.waitFor('the prompt', (shown) => promptCount(shown) > 0);

  const before = promptCount(await term.screen());
  await term.type(`upload "${file}"`);
  await term.press('Enter');
  await term.waitFor('the upload under way', (shown) => FILE_BAR.test(shown));
  await term.press('C-c');
  const after = await term.waitFor('the prompt after Ctrl-C', (shown) => promptCount(shown) > before);
  t.regex(after, /^ferry: cancelled by Ctrl-C; what had completed is kept$/m);
  t.notRegex(after, /^uploaded /m, 'the upload did not finish');

  t.regex(await enter(term, 'pwd'), /^\/$/m, 'the shell still answers');
  t.regex(await enter(term, 'mkdir after-cancel'), /^created \/after-cancel$/m, 'and still reaches the server');
  t.is(await server.stored.sha256('big.bin'), undefined, 'the cancelled upload left no file');
  await term.type('exit');
  await term.press('Enter');
  t.is(await term.exited(), 0);
});

test('Ctrl-C at the prompt abandons the line being typed and gives a fresh prompt, as bash does', async (t) => {
  const server = await startServer(t);
  const term = await openTerminal(t, ferryArgv('shell'), server.env);
  await term.waitFor('the prompt', (shown) => promptCount(shown) > 0);

  const before = promptCount(await term.screen());
  await term.type('mkdir never-made');
  await term.waitFor('the typed line', (shown) => promptLine(shown).endsWith('mkdir never-made'));
  await term.press('C-c');
  const fresh = await term.waitFor('a fresh prompt', (shown) => promptCount(shown) > before && /^ferry admin:\/>\s*$/.test(promptLine(shown)));
  t.regex(fresh, /mkdir never-made\^C$/m, 'the abandoned line is left on screen, marked ^C');
  t.regex(await enter(term, 'pwd'), /^\/$/m, 'the next line runs alone');
  t.deepEqual(await (await server.connect()).list('/'), [], 'the abandoned line never ran');
  await term.type('exit');
  await term.press('Enter');
  t.is(await term.exited(), 0);
});

test('Tab completes a remote name with spaces in quotes, and the completed command runs', async (t) => {
  const server = await startServer(t);
  await server.stored.write('holiday photos/first day.txt', 'sunny');
  const term = await openTerminal(t, ferryArgv('shell'), server.env);
  await term.waitFor('the prompt', (shown) => promptCount(shown) > 0);

  await term.type('stat hol');
  await term.press('Tab');
  await term.waitFor('the folder completed in an open quote', (shown) => promptLine(shown).endsWith('stat "holiday photos/'));
  await term.type('fi');
  await term.press('Tab');
  await term.waitFor('the file completed and quoted', (shown) => promptLine(shown).endsWith('stat "holiday photos/first day.txt"'));
  const before = promptCount(await term.screen());
  await term.press('Enter');
  const shown = await term.waitFor('the stat result', (screen) => promptCount(screen) > before);
  t.regex(shown, /^path: {3}\/holiday photos\/first day\.txt$/m);
  await term.type('exit');
  await term.press('Enter');
  t.is(await term.exited(), 0);
});

test('lcd, lpwd and lls work on this computer, and Tab completes local names for upload', async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  await writeFile(join(local, 'my notes.txt'), 'twelve bytes');
  const term = await openTerminal(t, ferryArgv('shell'), server.env);
  await term.waitFor('the prompt', (shown) => promptCount(shown) > 0);

  await enter(term, `lcd "${local}"`);
  t.regex(await enter(term, 'lpwd'), new RegExp(`^${local}$`, 'm'));
  t.regex(await enter(term, 'lls'), /^- +12 B +\d{4}-\d\d-\d\d \d\d:\d\d +my notes\.txt$/m);
  t.regex(await enter(term, 'lcd /no/such/folder'), /^ferry: \/no\/such\/folder does not exist on this computer$/m);

  await term.type('upload my');
  await term.press('Tab');
  await term.waitFor('the local name completed and quoted', (shown) => promptLine(shown).endsWith('upload "my notes.txt"'));
  const before = promptCount(await term.screen());
  await term.press('Enter');
  const shown = await term.waitFor('the upload result', (screen) => promptCount(screen) > before);
  t.regex(shown, /^uploaded my notes\.txt -> \/my notes\.txt \(12 B\)$/m);
  await term.type('exit');
  await term.press('Enter');
  t.is(await term.exited(), 0);
});

test('a mistyped command gets a "did you mean" with the nearest command', async (t) => {
  const server = await startServer(t);
  const term = await openTerminal(t, ferryArgv('shell'), server.env);
  await term.waitFor('the prompt', (shown) => promptCount(shown) > 0);
  t.regex(await enter(term, 'uplaod x'), /^ferry: unknown command "uplaod"; did you mean "upload"\?$/m);
  t.regex(await enter(term, 'lss'), /^ferry: unknown command "lss"; did you mean "ls"\?$/m);
  await term.type('exit');
  await term.press('Enter');
  t.is(await term.exited(), 0);
});

test('an upload on a terminal shows a bar for the file and a total, with bytes, rate and ETA, while it runs', async (t) => {
  const server = await pacedServer(t);
  const file = await bigFile(t);
  const term = await openTerminal(t, ferryArgv('upload', file), server.env);

  const running = await term.waitFor('the progress bars', (shown) => FILE_BAR.test(shown) && TOTAL_BAR.test(shown));
  t.notRegex(running, /^uploaded /m, 'the bars are seen before the upload ends');
  t.is(await term.exited(), 0);
  t.regex(await term.screen(), /^uploaded .*big\.bin -> \/big\.bin \(8\.00 MiB\)$/m);
});

test('--quiet on a terminal draws no progress bar, where the same upload without it does', async (t) => {
  const file = await bigFile(t);
  const [loudServer, quietServer] = await Promise.all([pacedServer(t), pacedServer(t)]);
  const [loud, quiet] = await Promise.all([
    onPseudoTerminal(ferryArgv('upload', file), loudServer.env),
    onPseudoTerminal(ferryArgv('--quiet', 'upload', file), quietServer.env),
  ]);

  t.is(loud.code, 0, loud.transcript);
  t.regex(loud.transcript, FILE_BAR, 'without --quiet the pseudo-terminal gets a file bar');
  t.regex(loud.transcript, TOTAL_BAR, 'and a total bar');
  t.true(loud.transcript.lastIndexOf(SHOW_CURSOR) > loud.transcript.lastIndexOf(HIDE_CURSOR), 'the cursor is shown again when the bars are done');

  t.is(quiet.code, 0, quiet.transcript);
  t.regex(quiet.transcript, /uploaded .*big\.bin -> \/big\.bin \(8\.00 MiB\)/, 'the result is still printed');
  t.false(quiet.transcript.includes(HIDE_CURSOR), 'no bar starts drawing');
  t.notRegex(quiet.transcript, /[█░]|\d%|ETA/, 'no bar, percentage or ETA');
});

test('a shell started with --quiet on a terminal draws no progress bar for an upload, where a shell without it does', async (t) => {
  const file = await bigFile(t);
  const [loudServer, quietServer] = await Promise.all([pacedServer(t), pacedServer(t)]);
  const keys = `upload ${shellQuote(file)}\nexit\n`;
  const [loud, quiet] = await Promise.all([
    onPseudoTerminal(ferryArgv('shell'), loudServer.env, keys),
    onPseudoTerminal(ferryArgv('--quiet', 'shell'), quietServer.env, keys),
  ]);

  t.is(loud.code, 0, loud.transcript);
  t.regex(loud.transcript, FILE_BAR, 'without --quiet the shell draws a file bar');
  t.regex(loud.transcript, TOTAL_BAR, 'and a total bar');

  t.is(quiet.code, 0, quiet.transcript);
  t.regex(quiet.transcript, /uploaded .*big\.bin -> \/big\.bin \(8\.00 MiB\)/, 'the result is still printed');
  t.false(quiet.transcript.includes(HIDE_CURSOR), 'no bar starts drawing');
  t.notRegex(quiet.transcript, /[█░]|\d%|ETA/, 'no bar, percentage or ETA');
});

test('an upload with its output piped draws no bar: stderr stays empty and stdout has only the result lines', async (t) => {
  const server = await pacedServer(t);
  const file = await bigFile(t);

  const result = await ferry(['upload', file], { env: server.env });
  t.is(result.code, 0, result.stderr);
  t.is(result.stderr, '');
  t.false(/[\u001b\r]/.test(result.stdout), 'no terminal control characters');
  const lines = result.stdout.split('\n');
  t.is(lines.pop(), '', 'stdout ends with a newline');
  t.is(lines.length, 2, result.stdout);
  t.regex(lines[0] ?? '', /^uploaded .*big\.bin -> \/big\.bin \(8\.00 MiB\)$/);
  t.regex(lines[1] ?? '', /^1 of 1 files, 8\.00 MiB in [\d.]+ s \([\d.]+ (?:B|KiB|MiB)\/s\)$/);
});

test('the shell remembers its history between sessions: the Up arrow brings back a command from an earlier session', async (t) => {
  const server = await startServer(t);
  const history = join(await tempDir(t), 'shell_history');
  const env = { FERRY_SERVER: server.env.FERRY_SERVER as string, FERRY_FINGERPRINT: server.env.FERRY_FINGERPRINT as string, FERRY_USER: ADMIN.user, FERRY_PASSWORD: ADMIN.password, FERRY_HISTORY: history };
  const first = await openTerminal(t, ferryArgv('shell'), env);
  await first.waitFor('the prompt', (shown) => promptCount(shown) > 0);
  await enter(first, 'mkdir remembered-folder');
  await first.type('exit');
  await first.press('Enter');
  t.is(await first.exited(), 0);

  const second = await openTerminal(t, ferryArgv('shell'), env);
  await second.waitFor('the prompt', (shown) => promptCount(shown) > 0);
  await second.press('Up');
  await second.press('Up');
  const screen = await second.waitFor('the remembered command', (shown) => promptLine(shown).endsWith('mkdir remembered-folder'));
  t.regex(promptLine(screen), /ferry admin:\/> mkdir remembered-folder$/);
  await second.press('C-u');
  await second.type('exit');
  await second.press('Enter');
  t.is(await second.exited(), 0);
});

const TRUST_QUESTION = /Trust it from now on \(yes\/no\)\? ?$/m;

test('on a terminal, first use shows the fingerprint and asks before any password: "no" records nothing, "yes" pins it and the next run asks nothing', async (t) => {
  const server = await startServer(t);
  const knownHosts = join(await tempDir(t), 'known_hosts');
  const env = { FERRY_SERVER: server.env.FERRY_SERVER as string, FERRY_USER: ADMIN.user, FERRY_KNOWN_HOSTS: knownHosts };

  const refused = await openTerminal(t, ferryArgv('ls'), env);
  const asked = await refused.waitFor('the trust question', (shown) => TRUST_QUESTION.test(shown));
  t.true(asked.includes(`The authenticity of ${server.env.FERRY_SERVER} cannot be established`), asked);
  t.true(asked.includes(`Its certificate fingerprint is ${server.fingerprint}`), asked);
  t.false(asked.includes('Password for'), 'the password is not asked before the server is trusted');
  await refused.type('no');
  await refused.press('Enter');
  t.is(await refused.exited(), 6);
  t.regex(await refused.screen(), /was not trusted; nothing was recorded or sent/);
  await t.throwsAsync(access(knownHosts), undefined, 'nothing recorded');

  const accepted = await openTerminal(t, ferryArgv('ls'), env);
  await accepted.waitFor('the trust question', (shown) => TRUST_QUESTION.test(shown));
  await accepted.type('yes');
  await accepted.press('Enter');
  await accepted.waitFor('the password prompt', (shown) => /^Password for admin: ?$/m.test(shown));
  await accepted.type(ADMIN.password);
  await accepted.press('Enter');
  t.is(await accepted.exited(), 0, await accepted.screen());
  t.is((await readFile(knownHosts, 'utf8')).trim(), `${server.env.FERRY_SERVER} ${server.fingerprint}`);

  const quiet = await openTerminal(t, ferryArgv('ls'), { ...env, FERRY_PASSWORD: ADMIN.password });
  t.is(await quiet.exited(), 0);
  t.notRegex(await quiet.screen(), TRUST_QUESTION, 'a pinned server is not asked about again');
});

test('on a terminal, ferry trust after a certificate change shows the old and new fingerprints and asks', async (t) => {
  const server = await startServer(t);
  const knownHosts = join(await tempDir(t), 'known_hosts');
  const old = `SHA256:${Buffer.alloc(32, 3).toString('base64').replace(/=+$/, '')}`;
  await writeFile(knownHosts, `${server.env.FERRY_SERVER} ${old}\n`);
  const env = { FERRY_SERVER: server.env.FERRY_SERVER as string, FERRY_KNOWN_HOSTS: knownHosts };

  const trust = await openTerminal(t, ferryArgv('trust'), env);
  const asked = await trust.waitFor('the trust question', (shown) => TRUST_QUESTION.test(shown));
  t.true(asked.includes(`The certificate of ${server.env.FERRY_SERVER} changed: it was ${old}`), asked);
  t.true(asked.includes(`Its certificate fingerprint is ${server.fingerprint}`), asked);
  await trust.type('yes');
  await trust.press('Enter');
  t.is(await trust.exited(), 0, await trust.screen());
  t.is((await readFile(knownHosts, 'utf8')).trim(), `${server.env.FERRY_SERVER} ${server.fingerprint}`);
});
