#!/usr/bin/env node
/**
 * `ferry-server`: runs the service and administers its users (README: "The `ferry-server` command line").
 */

import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ALL_PERMISSIONS, READ_ONLY_PERMISSIONS, UserDirectory, checkUserName } from '../auth/users.js';
import { SIZE_UNITS, commandLineFlags, configWarnings, loadConfig, parseWithUnits, settingAssignment, settingName, type Config } from '../config/config.js';
import { createLogger } from '../log/logger.js';
import { DEFAULT_CERTIFICATE_DAYS, certificateFiles } from '../ops/certificate-files.js';
import { ferryError } from '../protocol/errors.js';
import { runService } from '../app/run.js';
import { ExitCode } from './exit-codes.js';
import { parseCommandLine, runMain } from './main.js';
import { promptHidden, readStdin } from './password.js';
import { VERSION } from '../version.js';

async function newPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin) return readStdin();
  const first = await promptHidden('New password: ');
  const again = await promptHidden('Repeat it: ');
  if (first !== again) throw ferryError('USAGE', 'the two passwords differ; nothing was changed');
  return first;
}

function parseSize(text: string): number {
  const size = parseWithUnits(text, SIZE_UNITS);
  if (typeof size !== 'number' || !Number.isSafeInteger(size)) throw ferryError('USAGE', `"${text}" is not a size such as 1048576 or 20GiB`);
  return size;
}

function checkPassword(password: string): string {
  if (password.length < 8) throw ferryError('USAGE', 'the password must be at least 8 characters long');
  return password;
}

async function serve(args: string[]): Promise<number> {
  const config = loadConfig({ args });
  const logger = createLogger(config.get('logLevel'), config.get('logFormat'));
  for (const warning of configWarnings(config)) logger.warn({ event: 'deprecated-setting' }, warning);
  return runService(config, logger);
}

/** The configuration flags `start` takes, from the config schema, for `ferry-server start --help`. */
function startFlagsHelp(): string {
  const flags = commandLineFlags();
  const width = Math.max(...flags.map((entry) => entry.flag.length)) + ' <value>'.length + 2;
  const lines = flags.map((entry) => {
    const notes = [entry.env, entry.default === undefined || entry.default === '' ? undefined : `default ${JSON.stringify(entry.default)}`].filter(Boolean);
    return `  ${`${entry.flag} <value>`.padEnd(width)}${entry.doc}${notes.length > 0 ? ` [${notes.join(', ')}]` : ''}`;
  });
  return `\nConfiguration flags (each overrides its environment variable; every key: ferry-server config):\n${lines.join('\n')}\n`;
}

function users(config: Config): UserDirectory {
  return new UserDirectory(config.get('usersFile'));
}

runMain('ferry-server', async () => {
  const program = new Command('ferry-server')
    .description('Ferry file server: run the service and manage its users')
    .version(VERSION, '--version', 'print the version and exit')
    .exitOverride()
    .showHelpAfterError();
  let exit: number = ExitCode.OK;

  program
    .command('start', { isDefault: true })
    .description('run the service (what npm start runs); config flags such as --port 9000 override the environment')
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText('after', startFlagsHelp)
    .action(async (_options: unknown, command: Command) => {
      // Only flags reach here; a bare word is a mistyped command, not something to start.
      const stray = command.args[0];
      if (stray !== undefined && !stray.startsWith('-')) {
        throw ferryError('USAGE', `unknown command "${stray}"; see ferry-server --help`);
      }
      exit = await serve(command.args);
    });

  const user = program.command('user').description('manage the users file');
  user
    .command('add <name>')
    .description('add a user (asks for the password on a terminal)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--home <dir>', 'home folder, relative to the storage root (default: /NAME, the user\'s own folder; "/" shares everything)')
    .option('--read-only', 'may list and download only')
    .option('--quota <size>', `bytes the home may hold, e.g. 20GiB (default: ${settingName('limits.quota')})`)
    .action(async (name: string, options: { passwordStdin?: boolean; home?: string; readOnly?: boolean; quota?: string }) => {
      checkUserName(name);
      // Least privilege: a new user sees their own folder, not everyone's files.
      const home = options.home ?? `/${name}`;
      const quota = options.quota === undefined ? undefined : parseSize(options.quota);
      const password = checkPassword(await newPassword(options.passwordStdin ?? false));
      const permissions = options.readOnly ? READ_ONLY_PERMISSIONS : ALL_PERMISSIONS;
      await users(loadConfig()).add(name, password, { home, permissions, ...(quota !== undefined ? { quota } : {}) });
      const limit = quota === undefined ? '' : `, quota ${quota} bytes`;
      process.stdout.write(`added user ${name} (home ${home}, ${permissions.join(', ')}${limit})\n`);
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
    .description('list users with their home, permissions and quota')
    .action(async () => {
      const config = loadConfig();
      const directory = users(config);
      if (!(await directory.load())) throw ferryError('NOT_FOUND', `there is no users file at ${directory.path} yet; start the server once, or add a user`);
      const serverQuota = config.get('limits.quota');
      const quotaText = (quota: number | undefined): string => {
        if (quota !== undefined) return quota === 0 ? 'unlimited' : String(quota);
        return serverQuota === 0 ? 'default (unlimited)' : `default (${serverQuota})`;
      };
      process.stdout.write('NAME\tHOME\tPERMISSIONS\tQUOTA (bytes)\n');
      for (const entry of directory.list()) {
        process.stdout.write(`${entry.name}\t${entry.home}\t${entry.permissions.join(',')}\t${quotaText(entry.quota)}\n`);
      }
    });

  program
    .command('tls')
    .description('TLS certificates')
    .command('init')
    .description('make a self-signed certificate and key for this host (clients pin it on first use)')
    .option('--out <dir>', 'folder to write cert.pem and key.pem to (default: <data dir>/tls)')
    .option('--days <n>', 'days the certificate is valid', String(DEFAULT_CERTIFICATE_DAYS))
    .option('--force', 'replace an existing certificate (clients that pinned it must trust the new one)')
    .action(async (options: { out?: string; days: string; force?: boolean }) => {
      const days = Number(options.days);
      if (!Number.isInteger(days) || days < 1) throw ferryError('USAGE', `--days takes a whole number of days, not "${options.days}"`);
      const dir = resolve(options.out ?? join(loadConfig().get('dataDir'), 'tls'));
      if (!options.force && existsSync(certificateFiles(dir).certFile)) {
        throw ferryError('EXISTS', `${certificateFiles(dir).certFile} already exists; add --force to replace it (clients that pinned it will then refuse the server until they run: ferry -s HOST trust)`);
      }
      const { writeSelfSignedCertificate } = await import('../ops/certificate.js');
      const { certFile, keyFile, fingerprint } = await writeSelfSignedCertificate(dir, days);
      const where = options.out === undefined ? 'the server uses it at its next start' : `start the server with it:\n  ${settingAssignment('tls.cert', certFile)} ${settingAssignment('tls.key', keyFile)} npm start`;
      process.stdout.write(
        `wrote ${certFile} and ${keyFile}\ncertificate fingerprint ${fingerprint}\n${where}\n` +
          `clients check it with: ferry -s HOST --fingerprint ${fingerprint} ...  (or compare it when first asked)\n`,
      );
    });

  program
    .command('config')
    .description('print the effective configuration, secrets redacted')
    .allowUnknownOption()
    .allowExcessArguments()
    .action((_options: unknown, command: Command) => {
      process.stdout.write(`${loadConfig({ args: command.args }).toString()}\n`);
    });

  return (await parseCommandLine(program)) ?? exit;
});
