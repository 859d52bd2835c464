import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientConfigFolder } from '../../src/client/config-folder.js';
import { defaultKnownHostsFile } from '../../src/client/known-hosts.js';
import { clientConfigFile } from '../../src/cli/profiles.js';

async function fakeHome(t: ExecutionContext): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'ferry-home-'));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  return home;
}

async function touch(file: string): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, '');
}

test('linux: config.json and known_hosts share $XDG_CONFIG_HOME/ferry, or ~/.config/ferry; a relative XDG_CONFIG_HOME is ignored', async (t) => {
  const home = await fakeHome(t);
  const xdg = join(home, 'xdg');
  t.is(clientConfigFolder({ env: { XDG_CONFIG_HOME: xdg }, platform: 'linux', home }), join(xdg, 'ferry'));
  t.is(await defaultKnownHostsFile({ env: { XDG_CONFIG_HOME: xdg }, platform: 'linux', home }), join(xdg, 'ferry', 'known_hosts'));
  t.is(clientConfigFile({ XDG_CONFIG_HOME: xdg }, 'linux', home), join(xdg, 'ferry', 'config.json'));
  t.is(await defaultKnownHostsFile({ env: {}, platform: 'linux', home }), join(home, '.config', 'ferry', 'known_hosts'));
  t.is(await defaultKnownHostsFile({ env: { XDG_CONFIG_HOME: 'relative' }, platform: 'linux', home }), join(home, '.config', 'ferry', 'known_hosts'));
  t.is(clientConfigFile({ XDG_CONFIG_HOME: 'relative' }, 'linux', home), join(home, '.config', 'ferry', 'config.json'));
});

test('macOS: known_hosts goes beside config.json in ~/Library/Application Support/ferry, but one already in ~/.config/ferry is kept', async (t) => {
  const home = await fakeHome(t);
  const folder = join(home, 'Library', 'Application Support', 'ferry');
  t.is(clientConfigFile({}, 'darwin', home), join(folder, 'config.json'));
  t.is(await defaultKnownHostsFile({ env: {}, platform: 'darwin', home }), join(folder, 'known_hosts'));
  const old = join(home, '.config', 'ferry', 'known_hosts');
  await touch(old);
  t.is(await defaultKnownHostsFile({ env: {}, platform: 'darwin', home }), old, 'the pins made before are still read');
  await touch(join(folder, 'known_hosts'));
  t.is(await defaultKnownHostsFile({ env: {}, platform: 'darwin', home }), join(folder, 'known_hosts'), 'once the new file exists it wins');
});

test('linux: a known_hosts under a relative XDG_CONFIG_HOME (used before) is kept', async (t) => {
  const home = await fakeHome(t);
  const relative = join(home, 'rel');
  // The old code took a relative XDG_CONFIG_HOME against the working folder.
  await touch(join(relative, 'ferry', 'known_hosts'));
  const cwd = process.cwd();
  process.chdir(home);
  t.teardown(() => process.chdir(cwd));
  t.is(await defaultKnownHostsFile({ env: { XDG_CONFIG_HOME: 'rel' }, platform: 'linux', home }), join('rel', 'ferry', 'known_hosts'));
});

test('windows: both in %APPDATA%\\ferry', async (t) => {
  t.is(clientConfigFolder({ env: { APPDATA: 'C:\\Users\\ann\\AppData\\Roaming' }, platform: 'win32', home: 'C:\\Users\\ann' }), 'C:\\Users\\ann\\AppData\\Roaming\\ferry');
  t.is(clientConfigFile({ APPDATA: 'C:\\Users\\ann\\AppData\\Roaming' }, 'win32', 'C:\\Users\\ann'), 'C:\\Users\\ann\\AppData\\Roaming\\ferry\\config.json');
  t.is(await defaultKnownHostsFile({ env: { APPDATA: 'C:\\Users\\ann\\AppData\\Roaming' }, platform: 'win32', home: 'C:\\Users\\ann' }), 'C:\\Users\\ann\\AppData\\Roaming\\ferry\\known_hosts');
  t.is(await defaultKnownHostsFile({ env: {}, platform: 'win32', home: 'C:\\Users\\ann' }), 'C:\\Users\\ann\\AppData\\Roaming\\ferry\\known_hosts');
});

test('FERRY_KNOWN_HOSTS names the file on every platform', async (t) => {
  for (const platform of ['linux', 'darwin', 'win32'] as const) {
    t.is(await defaultKnownHostsFile({ env: { FERRY_KNOWN_HOSTS: '/x/hosts' }, platform, home: '/home/ann' }), '/x/hosts');
  }
});
