#!/usr/bin/env node
/**
 * `ferry-server`: runs the service and administers its users (SPEC section 6).
 */

import { Command, CommanderError } from 'commander';
import { ALL_PERMISSIONS, READ_ONLY_PERMISSIONS, UserDirectory } from '../auth/users.js';
import { loadConfig, type Config } from '../ops/config.js';
import { createLogger } from '../ops/logger.js';
import { ferryError } from '../protocol/errors.js';
import { runService } from '../cluster/run.js';
import { ExitCode } from './exit-codes.js';
import { runMain } from './main.js';
import { promptHidden, readStdin } from './password.js';

async function newPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin) return readStdin();
  const first = await promptHidden('New password: ');
  const again = await promptHidden('Repeat it: ');
  if (first !== again) throw ferryError('USAGE', 'the two passwords differ; nothing was changed');
  return first;
}

function checkPassword(password: string): string {
  if (password.length < 8) throw ferryError('USAGE', 'the password must be at least 8 characters long');
  return password;
}

async function serve(args: string[]): Promise<number> {
  const config = loadConfig({ args });
  return runService(config, createLogger(config.get('logLevel')));
}

function users(config: Config): UserDirectory {
  return new UserDirectory(config.get('usersFile'));
}

runMain('ferry-server', async () => {
  const program = new Command('ferry-server')
    .description('Ferry file server: run the service and manage its users')
    .exitOverride()
    .showHelpAfterError();
  let exit: number = ExitCode.OK;

  program
    .command('start', { isDefault: true })
    .description('run the service (what npm start runs); config flags such as --port 9000 override the environment')
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .action(async (_options: unknown, command: Command) => {
      exit = await serve(command.args);
    });

  const user = program.command('user').description('manage the users file');
  user
    .command('add <name>')
    .description('add a user (asks for the password on a terminal)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--home <dir>', 'home folder, relative to the storage root', '/')
    .option('--read-only', 'may list and download only')
    .action(async (name: string, options: { passwordStdin?: boolean; home: string; readOnly?: boolean }) => {
      const password = checkPassword(await newPassword(options.passwordStdin ?? false));
      const permissions = options.readOnly ? READ_ONLY_PERMISSIONS : ALL_PERMISSIONS;
      await users(loadConfig()).add(name, password, { home: options.home, permissions });
      process.stdout.write(`added user ${name} (home ${options.home}, ${permissions.join(', ')})\n`);
    });
  user
    .command('remove <name>')
    .description('remove a user')
    .action(async (name: string) => {
      await users(loadConfig()).remove(name);
      process.stdout.write(`removed user ${name}\n`);
    });
  user
    .command('passwd <name>')
    .description("change a user's password")
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, options: { passwordStdin?: boolean }) => {
      const password = checkPassword(await newPassword(options.passwordStdin ?? false));
      await users(loadConfig()).setPassword(name, password);
      process.stdout.write(`changed the password of ${name}\n`);
    });
  user
    .command('list')
    .description('list users with their home and permissions')
    .action(async () => {
      const directory = users(loadConfig());
      if (!(await directory.load())) throw ferryError('NOT_FOUND', `there is no users file at ${directory.path} yet; start the server once, or add a user`);
      for (const entry of directory.list()) {
        process.stdout.write(`${entry.name}\t${entry.home}\t${entry.permissions.join(',')}\n`);
      }
    });

  program
    .command('config')
    .description('print the effective configuration, secrets redacted')
    .allowUnknownOption()
    .allowExcessArguments()
    .action((_options: unknown, command: Command) => {
      process.stdout.write(`${loadConfig({ args: command.args }).toString()}\n`);
    });

  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    throw error;
  }
  return exit;
});
