/**
 * `ferry completion SHELL` loaded into the real shells: bash (COMP_WORDS
 * simulated), zsh (registered with compinit) and fish (`complete -C` asks it
 * what it would offer), with commands, options, saved servers and remote names
 * from a real server.
 */

import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FERRY_BIN, ferry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { withTools } from '../helpers/tools.js';

const run = promisify(execFile);

/** A folder with `ferry` on it (the built CLI), a saved server "nas", and the environment to reach `server`. */
async function shellSetup(t: ExecutionContext, server: TestServer): Promise<{ env: NodeJS.ProcessEnv; dir: string }> {
  const dir = await tempDir(t, 'ferry-completion-');
  await mkdir(join(dir, 'bin'));
  const wrapper = join(dir, 'bin', 'ferry');
  await writeFile(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${FERRY_BIN}" "$@"\n`);
  await chmod(wrapper, 0o755);
  await server.stored.write('docs/readme.txt', 'hello');
  await server.stored.write('docs/photos/a.jpg', 'jpeg');
  await server.stored.write('downloads.txt', 'x');
  await server.stored.write('holiday photos.txt', 'x');
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}`, XDG_CONFIG_HOME: join(dir, 'config'), HOME: dir };
  for (const key of ['FERRY_SERVER', 'FERRY_USER', 'FERRY_PASSWORD']) delete env[key];
  const saved = await ferry(['-s', `127.0.0.1:${server.port}`, '-u', 'admin', 'config', 'add', 'nas'], { env: { XDG_CONFIG_HOME: join(dir, 'config') } });
  if (saved.code !== 0) throw new Error(saved.stderr);
  env.FERRY_PASSWORD = server.env.FERRY_PASSWORD;
  // Completion never pins a certificate itself: a first real command does, as a person's would.
  env.FERRY_KNOWN_HOSTS = join(dir, 'known_hosts');
  const pinned = await ferry(['-s', 'nas', 'ls'], { env });
  if (pinned.code !== 0) throw new Error(pinned.stderr);
  return { env, dir };
}

withTools('bash')('bash: the script registers _ferry for ferry and completes commands, options, saved servers and remote names', async (t) => {
  const server = await startServer(t);
  const { env } = await shellSetup(t, server);
  const complete = async (...words: string[]): Promise<string[]> => {
    const array = words.map((word) => `'${word}'`).join(' ');
    const script = `source <(ferry completion bash)\nCOMP_WORDS=(${array}); COMP_CWORD=${words.length - 1}\n_ferry\nprintf '%s\\n' "\${COMPREPLY[@]}"`;
    const { stdout } = await run('bash', ['-c', script], { env });
    return stdout.split('\n').filter(Boolean).sort();
  };
  const { stdout: registered } = await run('bash', ['-c', 'source <(ferry completion bash); complete -p ferry'], { env });
  t.is(registered.trim(), 'complete -o default -F _ferry ferry');
  t.deepEqual(await complete('ferry', 'up'), ['upload']);
  t.deepEqual(await complete('ferry', 'comp'), ['completion']);
  t.deepEqual(await complete('ferry', 'download', '--no'), ['--no-clobber']);
  t.deepEqual(await complete('ferry', '--js'), ['--json']);
  t.deepEqual(await complete('ferry', 'completion', 'f'), ['fish']);
  t.deepEqual(await complete('ferry', '-s', 'n'), ['nas']);
  // Remote names, through the saved server typed before the command.
  t.deepEqual(await complete('ferry', '-s', 'nas', 'ls', 'do'), ['docs/', 'downloads.txt']);
  t.deepEqual(await complete('ferry', '-s', 'nas', 'get', 'docs/'), ['docs/photos/', 'docs/readme.txt']);
  t.deepEqual(await complete('ferry', '-s', 'nas', 'rm', 'docs/photos/a'), ['docs/photos/a.jpg']);
  t.deepEqual(await complete('ferry', '-s', 'nas', 'stat', 'hol'), ['holiday\\ photos.txt'], 'a name with a space comes quoted');
  // No server to ask: nothing offered, and nothing printed on the terminal.
  t.deepEqual(await complete('ferry', '-s', '127.0.0.1:1', '--retries', '0', 'ls', 'do'), []);
});

withTools('zsh')('zsh: the script loads after compinit and registers _ferry', async (t) => {
  const server = await startServer(t);
  const { env, dir } = await shellSetup(t, server);
  const script = join(dir, '_ferry');
  await writeFile(script, (await ferry(['completion', 'zsh'])).stdout);
  await run('zsh', ['-n', script]);
  const { stdout } = await run('zsh', ['-c', `autoload -U compinit; compinit -u -d ${join(dir, 'zcompdump')}; source ${script}; print -r -- $_comps[ferry]`], { env });
  t.is(stdout.trim(), '_ferry');
});

withTools('fish')('fish: the script parses, and fish offers commands, saved servers and remote names from it', async (t) => {
  const server = await startServer(t);
  const { env, dir } = await shellSetup(t, server);
  const script = join(dir, 'ferry.fish');
  await writeFile(script, (await ferry(['completion', 'fish'])).stdout);
  await run('fish', ['--no-execute', script]);
  const complete = async (line: string): Promise<string[]> => {
    const { stdout } = await run('fish', ['--no-config', '-c', `source ${script}; complete -C'${line}'`], { env });
    return stdout
      .split('\n')
      .filter(Boolean)
      .map((candidate) => candidate.split('\t')[0] as string)
      .sort();
  };
  t.true((await complete('ferry up')).includes('upload'));
  t.deepEqual(await complete('ferry -s n'), ['nas']);
  t.deepEqual(await complete('ferry -s nas ls do'), ['docs/', 'downloads.txt']);
});

test('powershell: the script registers a native argument completer for ferry', async (t) => {
  const result = await ferry(['completion', 'powershell']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /Register-ArgumentCompleter -Native -CommandName ferry -ScriptBlock/);
  t.regex(result.stdout, /ferry @conn __complete remote \$wordToComplete/);
});

test('an unknown shell is a usage error that names the known ones', async (t) => {
  const result = await ferry(['completion', 'tcsh']);
  t.is(result.code, 2);
  t.regex(result.stderr, /knows bash, zsh, fish, powershell, not "tcsh"/);
});

test('completing remote names never pins a certificate not seen before: the first real command still asks', async (t) => {
  const server = await startServer(t);
  await server.stored.write('docs/readme.txt', 'hello');
  const dir = await tempDir(t, 'ferry-completion-pin-');
  const knownHosts = join(dir, 'known_hosts');
  const env = { FERRY_KNOWN_HOSTS: knownHosts, FERRY_PASSWORD: server.env.FERRY_PASSWORD, FERRY_USER: server.env.FERRY_USER };
  const where = `127.0.0.1:${server.port}`;
  const completed = await ferry(['-s', where, '__complete', 'remote', 'do'], { env });
  t.is(completed.stdout, '', 'an unseen certificate offers no names');
  await t.throwsAsync(readFile(knownHosts, 'utf8'), { code: 'ENOENT' }, 'nothing was pinned');
  // Afterwards the first real command still meets the server as new (without a terminal: a notice).
  const listed = await ferry(['-s', where, 'ls'], { env });
  t.is(listed.code, 0, listed.stderr);
  t.regex(listed.stderr, /first TLS connection to/);
  // Once pinned, completion uses the pin.
  const again = await ferry(['-s', where, '__complete', 'remote', 'do'], { env });
  t.is(again.stdout, 'docs/\n', again.stderr);
});

test('completing remote names uses an explicit --fingerprint', async (t) => {
  const server = await startServer(t);
  await server.stored.write('docs/readme.txt', 'hello');
  const env = { FERRY_PASSWORD: server.env.FERRY_PASSWORD, FERRY_USER: server.env.FERRY_USER };
  const completed = await ferry(['-s', `127.0.0.1:${server.port}`, '--fingerprint', server.fingerprint ?? '', '__complete', 'remote', 'do'], { env });
  t.is(completed.stdout, 'docs/\n', completed.stderr);
});
