#!/usr/bin/env node
/**
 * `ferry`: the client command line described in the README, a thin layer over the
 * client library (src/client) and the shared commands (commands.ts). Its global
 * options, and the connection they ask for: global-options.ts.
 */

import { Command, Option } from 'commander';
import { DEFAULT_RETRIES, retryBudgetMs } from '../client/retry-policy.js';
import type { ProfileOptions } from './profiles.js';
import { STDIO } from './destination.js';
import { PROGRESS_MODES } from './progress-json.js';
import { ferryError } from '../protocol/errors.js';
import type { CommandEnv } from './commands.js';
import type { LoginOptions } from './connect.js';
import { ExitCode } from './exit-codes.js';
import { connectionOptions, typedConnection, withProfile, type GlobalOptions } from './global-options.js';
import { endQuietlyOnClosedPipes, parseCommandLine, runMain } from './main.js';
import { Output } from './output.js';
import { VERSION } from '../version.js';
import { CLIENT_ENV, TLS_OFF } from './environment.js';

function retryWindow(retries: number): string {
  const { min, max } = retryBudgetMs(retries);
  return `${Math.round(min / 1000)}-${Math.round(max / 1000)} s`;
}

/** Commander's way to collect a repeatable option. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

interface SelectionFlags {
  skipExisting?: boolean;
  exclude?: string[];
  followSymlinks?: boolean;
}

function selection(flags: SelectionFlags): { skipExisting: boolean; excludes: string[]; followSymlinks: boolean } {
  return { skipExisting: flags.skipExisting ?? false, excludes: flags.exclude ?? [], followSymlinks: flags.followSymlinks ?? false };
}

endQuietlyOnClosedPipes();
runMain('ferry', async () => {
  const program = new Command('ferry')
    .description('Move files to and from a Ferry server, intact.')
    .version(VERSION, '--version', 'print the version and exit')
    .addOption(new Option('-s, --server <host[:port]>', 'server address (default localhost:8080; "auto" finds it by mDNS)').env(CLIENT_ENV.server))
    .addOption(new Option('-u, --user <name>', 'user name').env(CLIENT_ENV.user))
    .option('--password-stdin', `read the password from standard input (else ${CLIENT_ENV.password}, else a prompt)`)
    .addOption(new Option('--fingerprint <SHA256:...>', "pin this certificate fingerprint (as the server's log prints it) instead of asking on first use").env(CLIENT_ENV.fingerprint))
    .option('--ca <file>', 'verify the server certificate against this CA instead of pinning it')
    // TLS is the default; --tls stays accepted so that older scripts keep working. Declared
    // before --no-tls, so that neither given leaves it unset and FERRY_TLS can decide.
    .addOption(new Option('--tls').hideHelp())
    .option('--no-tls', `plain TCP, for a server started with ${TLS_OFF} (also ${TLS_OFF} here); passwords and files travel readable`)
    .option('--password-command <command>', 'run this command and take its output as the password (a keychain, a password manager)')
    .option('-q, --quiet', 'no progress output')
    .option('-v, --verbose', 'one line per file for folder transfers too')
    .option('--json', 'machine-readable output on stdout: one {ok, data} or {ok: false, error} document')
    .addOption(new Option('--progress <mode>', 'progress of transfers: bars (on a terminal), json (JSON lines on stderr) or none').choices(PROGRESS_MODES).default('bars'))
    .addOption(
      new Option('--retries <n>', `times to retry a refused or lost connection, waiting longer each time (${retryWindow(DEFAULT_RETRIES)} in all by default)`)
        .env(CLIENT_ENV.retries)
        .default(String(DEFAULT_RETRIES)),
    )
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

  let exit: number = ExitCode.OK;
  // A saved server named by -s: its fields stand in for the options not typed (profiles.ts).
  let profile: ProfileOptions | undefined;
  program.hook('preAction', async () => {
    const { findProfile } = await import('./profiles.js');
    profile = await findProfile(program.opts<GlobalOptions>().server);
  });
  const globals = (): GlobalOptions => withProfile(program, program.opts<GlobalOptions>(), profile);
  let shared: Output | undefined;
  const output = (): Output =>
    (shared ??= new Output({
      json: program.opts<GlobalOptions>().json ?? false,
      quiet: (program.opts<GlobalOptions>().quiet ?? false) || program.opts<GlobalOptions>().progress === 'none',
      verbose: program.opts<GlobalOptions>().verbose ?? false,
    }));
  const connection = (): LoginOptions => connectionOptions(globals(), output());
  const progressJson = (): boolean => program.opts<GlobalOptions>().progress === 'json';

  /** Connects, logs in, runs `body`, and says goodbye. */
  const withClient = async (body: (env: CommandEnv) => Promise<number>): Promise<void> => {
    const { Connection } = await import('./connect.js');
    const open = await Connection.open(connection());
    const out = output();
    try {
      exit = await body({ connection: open, out, bars: out.bars, progressJson: progressJson() });
    } finally {
      await open.close();
    }
  };
  const commands = () => import('./commands.js');

  program
    .command('upload')
    .alias('put')
    .description('send files and folders (folders recursively); as scp, a last argument that is not a local file is the remote destination')
    .argument('<local...>', 'local files or folders, then optionally the remote folder (or new name) to send them to; "- NAME" sends standard input as NAME')
    .option('-d, --dest <dir>', 'remote folder to put them in (default: the home folder)')
    .option('--no-clobber', 'never replace an existing remote file')
    .option('--skip-existing', 'leave out files the server already holds with the same size and SHA-256')
    .option('--exclude <pattern>', 'leave out what matches this gitignore-style pattern (repeatable; .ferryignore files are read too)', collect)
    .option('--follow-symlinks', 'send what symbolic links in folders point to (by default they are skipped with a notice)')
    .action(async (locals: string[], options: { dest?: string; clobber: boolean } & SelectionFlags) => {
      if (locals[0] === STDIO) {
        if (program.opts<GlobalOptions>().passwordStdin) {
          throw ferryError('USAGE', `standard input carries the data of "upload -", so it cannot carry the password too: use ${CLIENT_ENV.passwordFile}, --password-command or ${CLIENT_ENV.password}`);
        }
        const { stdinTarget, uploadStdin } = await import('./pipes.js');
        const { jsonProgressSink } = await import('./progress-json.js');
        await withClient((env) =>
          uploadStdin(env, stdinTarget(env, locals, options.dest), { noClobber: !options.clobber, ...(env.progressJson ? { progress: jsonProgressSink() } : {}) }),
        );
        return;
      }
      const { upload } = await commands();
      const dest = options.dest !== undefined ? { dest: options.dest } : {};
      await withClient((env) => upload(env, locals, { ...dest, noClobber: !options.clobber, ...selection(options) }));
    });

  program
    .command('download')
    .alias('get')
    .description('fetch files and folders (folders recursively); as scp, a last argument that is not a remote file is the local destination')
    .argument('<remote...>', 'remote files or folders, then optionally the local folder (or new name) to save them to')
    .option('-d, --dest <dir>', 'local folder to put them in (default: the current folder)')
    .option('--no-clobber', 'never replace an existing local file (by default it is replaced, as scp does, and reported)')
    .option('--skip-existing', 'leave out files already here with the same size and SHA-256')
    .option('-o, --output <file>', 'save the one remote file as this local file; "-o -" writes it to standard output')
    .option('--fsync', 'sync each file to the disk before it is reported, so it survives a power loss too (slower; by default, as rsync and scp, the system writes it out later)')
    .action(async (remotes: string[], options: { dest?: string; clobber: boolean; skipExisting?: boolean; output?: string; fsync?: boolean }) => {
      if (options.output !== undefined && (remotes.length !== 1 || options.dest !== undefined)) {
        throw ferryError('USAGE', '-o names where one remote file goes: give exactly one remote file, and no -d');
      }
      if (options.output === STDIO) {
        const { downloadStdout } = await import('./pipes.js');
        const { jsonProgressSink } = await import('./progress-json.js');
        output().stdoutTaken = true;
        await withClient((env) => downloadStdout(env, remotes[0] as string, env.progressJson ? { progress: jsonProgressSink() } : {}));
        return;
      }
      const { download } = await commands();
      const where = options.output !== undefined ? { output: options.output } : options.dest !== undefined ? { dest: options.dest } : {};
      await withClient((env) =>
        download(env, remotes, { ...where, noClobber: !options.clobber, skipExisting: options.skipExisting ?? false, fsync: options.fsync ?? false }),
      );
    });

  program
    .command('sync')
    .description('mirror a folder one way, sending only what differs; the remote side starts with a colon: sync photos :/photos, or sync :/photos photos')
    .argument('<source>', 'the folder to mirror (:path for a remote one)')
    .argument('<target>', 'the folder made like it (:path for a remote one)')
    .option('-n, --dry-run', 'print what would be sent, set and deleted, and change nothing')
    .option('--delete', 'remove from the target what the source does not have (only inside the target)')
    .option('--checksum', 'compare SHA-256 digests even when size and time match')
    .option('--exclude <pattern>', 'leave out what matches this gitignore-style pattern (repeatable; .ferryignore files are read too)', collect)
    .option('--follow-symlinks', 'send what local symbolic links point to (by default they are skipped with a notice)')
    .action(async (source: string, target: string, options: { dryRun?: boolean; delete?: boolean; checksum?: boolean; exclude?: string[]; followSymlinks?: boolean }) => {
      const { sync, syncSides } = await import('./sync.js');
      syncSides(source, target); // A usage error is told before connecting.
      const flags = { dryRun: options.dryRun ?? false, delete: options.delete ?? false, checksum: options.checksum ?? false, excludes: options.exclude ?? [], followSymlinks: options.followSymlinks ?? false };
      await withClient((env) => sync(env, source, target, flags));
    });

  program
    .command('ls')
    .alias('list')
    .description('list a remote folder')
    .argument('[dir]', 'remote folder', '/')
    .action(async (dir: string) => {
      const { list } = await commands();
      await withClient((env) => list(env, dir));
    });

  program
    .command('stat')
    .description('size, modification time and SHA-256 of a remote file')
    .argument('<path>')
    .action(async (path: string) => {
      const { stat } = await commands();
      await withClient((env) => stat(env, path));
    });

  program
    .command('rm')
    .description('remove remote files (and folders with -r)')
    .argument('<path...>')
    .option('-r, --recursive', 'remove folders and everything in them')
    .action(async (paths: string[], options: { recursive?: boolean }) => {
      const { remove } = await commands();
      await withClient((env) => remove(env, paths, { recursive: options.recursive ?? false }));
    });

  program
    .command('mv')
    .description('rename or move a remote file or folder')
    .argument('<from>')
    .argument('<to>')
    .option('--no-clobber', 'never replace an existing file')
    .action(async (from: string, to: string, options: { clobber: boolean }) => {
      const { move } = await commands();
      await withClient((env) => move(env, from, to, { noClobber: !options.clobber }));
    });

  program
    .command('mkdir')
    .description('create remote folders (and their parents)')
    .argument('<dir...>')
    .action(async (dirs: string[]) => {
      const { makeDirs } = await commands();
      await withClient((env) => makeDirs(env, dirs));
    });

  program
    .command('trust')
    .description('trust the TLS certificate the server shows now, after it was replaced on purpose (asks first on a terminal)')
    .action(async () => {
      const options = connection();
      const { trustServer } = await import('./server-commands.js');
      await trustServer(options, output());
    });

  program
    .command('discover')
    .description('list Ferry servers on the LAN found by mDNS')
    .option('--timeout <seconds>', 'how long to listen', '2')
    .action(async (options: { timeout: string }) => {
      const { discover } = await import('./server-commands.js');
      exit = await discover(options.timeout, output());
    });

  program
    .command('doctor')
    .description('check the way to a server step by step and say how to fix what fails')
    .action(async () => {
      const { runDoctor } = await import('./doctor.js');
      exit = await runDoctor(connection(), output());
    });

  program
    .command('config')
    .description('show the client config file and the servers saved in it; "config add NAME [HOST[:PORT]]" saves the connection options given with it, "config remove NAME" forgets one')
    .argument('[action]', 'add or remove (none: show)')
    .argument('[name]', 'the saved server\'s name, used as ferry -s NAME')
    .argument('[address]', 'HOST[:PORT] of the server (or give -s HOST[:PORT])')
    .action(async (action: string | undefined, name: string | undefined, address: string | undefined) => {
      const { addProfile, removeProfile, showConfig } = await import('./config-command.js');
      if (action === undefined) exit = await showConfig(output());
      else if (action === 'add' && name !== undefined) exit = await addProfile(output(), name, address, typedConnection(program));
      else if (action === 'remove' && name !== undefined && address === undefined) exit = await removeProfile(output(), name);
      else throw ferryError('USAGE', 'use: ferry config | ferry [-s HOST[:PORT]] [-u USER] [--ca FILE] ... config add NAME [HOST[:PORT]] | ferry config remove NAME');
    });

  program
    .command('completion')
    .description('print a shell completion script (bash, zsh, fish or powershell); e.g. source <(ferry completion bash)')
    .argument('<shell>', 'bash, zsh, fish or powershell')
    .action(async (shell: string) => {
      const { completionScript, completionSpec, parseShell } = await import('./completion.js');
      const script = completionScript(parseShell(shell), completionSpec(program));
      const out = output();
      if (out.options.json) out.json({ shell, script });
      else process.stdout.write(script);
    });

  // Used by the completion scripts: one candidate per line, nothing on failure.
  program
    .command('__complete', { hidden: true })
    .argument('<what>', 'remote or profiles')
    .argument('[prefix]', 'what the word starts with', '')
    .action(async (what: string, prefix: string) => {
      if (what === 'profiles') {
        const { readClientConfig } = await import('./profiles.js');
        const { config } = await readClientConfig();
        for (const name of Object.keys(config.servers).sort()) process.stdout.write(`${name}\n`);
        return;
      }
      const { remoteCompletions } = await import('./completion.js');
      const { Connection } = await import('./connect.js');
      const open = await Connection.open({ ...connection(), retries: 0, noNewPins: true });
      try {
        for (const name of await remoteCompletions(open.client, prefix)) process.stdout.write(`${name}\n`);
      } finally {
        await open.close();
      }
    });

  program
    .command('shell')
    .description('interactive session (asks for user and password when not given)')
    .action(async () => {
      const { runShell } = await import('./shell.js');
      exit = await runShell(connection(), output());
    });

  // With --json, one envelope for every outcome, failures included (json-envelope.ts).
  const wantsJson = process.argv.includes('--json');
  let usage: string | undefined;
  let early: number | undefined;
  try {
    early = await parseCommandLine(program, (message) => (usage = message));
  } catch (error) {
    if (wantsJson) output().finishJson(ExitCode.OTHER, error);
    throw error;
  }
  // --help and --version print what they print, and nothing more.
  if (wantsJson && early !== ExitCode.OK) output().finishJson(early ?? exit, usage === undefined ? undefined : ferryError('USAGE', usage));
  return early ?? exit;
});
