/**
 * The helper scripts in scripts/. lan-address.sh runs inside a network namespace
 * whose interfaces the test made; open-firewall.sh runs against stub firewalls,
 * to check the commands of each backend, and for real against nftables and
 * iptables on two namespaced devices; the PowerShell twins are parsed when pwsh
 * is installed and always checked for the parameters they document.
 */

import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { chmod, copyFile, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { splitWords } from '../../src/cli/shell-words.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { twoDevices, type TwoDevices } from '../helpers/netns.js';
import { hasTool, preferSystemTools, withTools } from '../helpers/tools.js';

preferSystemTools();

const SCRIPTS = join(REPO_ROOT, 'scripts');
const LAN_ADDRESS = join(SCRIPTS, 'lan-address.sh');
const OPEN_FIREWALL = join(SCRIPTS, 'open-firewall.sh');
const NFT_CHAIN_SPEC = "'{ type filter hook input priority 0 ; policy accept ; }'";

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 30_000): Promise<Result> {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a command that must succeed and returns what it printed. */
async function mustRun(command: string, args: string[]): Promise<string> {
  const result = await runCommand(command, args);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.code}: ${result.stderr}`);
  return result.stdout;
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

async function whichTool(name: string): Promise<string> {
  return (await mustRun('sh', ['-c', 'command -v "$1"', 'sh', name])).trim();
}

/** A folder to use as the whole PATH, holding links to just the named system tools. */
async function toolbox(t: ExecutionContext, tools: string[]): Promise<string> {
  const dir = await tempDir(t, 'ferry-path-');
  await chmod(dir, 0o755);
  for (const tool of tools) await symlink(await whichTool(tool), join(dir, tool));
  return dir;
}

// --- lan-address.sh ---------------------------------------------------------

interface Namespace {
  name: string;
  exec(command: string, args: string[]): Promise<Result>;
}

let namespacesMade = 0;

/** A network namespace of the test's own with loopback up, deleted when the test ends. */
async function namespace(t: ExecutionContext): Promise<Namespace> {
  const name = `ferry-sc${process.pid}x${namespacesMade++}`;
  t.teardown(() => runCommand('ip', ['netns', 'del', name]));
  await mustRun('ip', ['netns', 'add', name]);
  await mustRun('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return { name, exec: (command, args) => runCommand('ip', ['netns', 'exec', name, command, ...args]) };
}

/**
 * lan1 and lan2 are connected; lan3 is up but its peer is down (no carrier),
 * lan4 is down, docker0 is a container bridge and lanll holds only a
 * link-local address. Only veth pairs are used: they need no extra kernel module.
 */
const LAN_INTERFACES = `
for name in lan1 lan2 lan3 lan4 docker0 lanll; do ip link add "$name" type veth peer name "\${name}p"; done
for name in lan1 lan1p lan2 lan2p lan3 docker0 docker0p lanll lanllp; do ip link set "$name" up; done
ip addr add 10.77.1.2/24 dev lan1
ip addr add 10.77.2.2/24 dev lan2
ip addr add 10.77.3.2/24 dev lan3
ip addr add 10.77.4.2/24 dev lan4
ip addr add 172.17.0.1/16 dev docker0
ip addr add 169.254.10.10/16 dev lanll
`;
const LAN_ADDRESSES = ['10.77.1.2\tlan1', '10.77.2.2\tlan2'];

async function lanNamespace(t: ExecutionContext): Promise<Namespace> {
  const ns = await namespace(t);
  await mustRun('ip', ['netns', 'exec', ns.name, 'sh', '-ec', LAN_INTERFACES]);
  return ns;
}

withTools('ip')('lan-address.sh prints each connected address with its interface, leaving out loopback, link-local, down, unplugged and container interfaces', async (t) => {
  const ns = await lanNamespace(t);
  const result = await ns.exec('sh', [LAN_ADDRESS]);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(lines(result.stdout).sort(), LAN_ADDRESSES);
  t.is(result.stderr, '');
});

withTools('ip', 'ifconfig')('lan-address.sh reads ifconfig where ip is missing, and finds the same addresses', async (t) => {
  const ns = await lanNamespace(t);
  const path = await toolbox(t, ['sh', 'awk', 'ifconfig']);
  const result = await ns.exec('env', [`PATH=${path}`, 'sh', LAN_ADDRESS]);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(lines(result.stdout).sort(), LAN_ADDRESSES);
});

withTools('ip')('lan-address.sh fails with a clear message on a host that no other device can reach', async (t) => {
  const ns = await namespace(t);
  const result = await ns.exec('sh', [LAN_ADDRESS]);
  t.is(result.code, 1);
  t.is(result.stdout, '');
  t.regex(result.stderr, /no LAN IPv4 address found: every interface is down, loopback, link-local or a container bridge/);
});

test('lan-address.sh --help says what it prints and what it leaves out', async (t) => {
  const result = await runCommand('sh', [LAN_ADDRESS, '--help']);
  t.is(result.code, 0);
  for (const topic of ['ADDRESS<TAB>INTERFACE', '127.0.0.0/8', '169.254.0.0/16', 'down', 'docker*', 'ifconfig -a']) t.true(result.stdout.includes(topic), topic);
  t.is((await runCommand('sh', [LAN_ADDRESS, '--bogus'])).code, 2);
});

// --- open-firewall.sh against stub firewalls ---------------------------------

/** What a stubbed host has: each firewall tool that is installed, and its state. */
interface Host {
  ufw?: 'active' | 'inactive';
  firewalld?: 'running' | 'not running';
  /** What `nft -a list ruleset` prints. */
  nft?: string;
  /** The nft on PATH is another program of that name, as in npm's node_modules/.bin. */
  nftIsFileTracer?: boolean;
  /** The ports that already have Ferry's iptables rule. */
  iptables?: number[];
}

const EVERY_FIREWALL: Host = { ufw: 'active', firewalld: 'running', nft: '', iptables: [] };

interface FirewallRun extends Result {
  /** The commands it printed. */
  commands: string[];
  /** The changing commands the stubs received, as argument vectors. */
  ran: string[][];
}

/**
 * Runs open-firewall.sh with a PATH holding only the tools it needs and stubs
 * for the firewalls `host` has. The stubs answer the queries (ufw status,
 * firewall-cmd --state, nft -a list ruleset, iptables -S and -C) and record
 * every other call, one per line with the arguments split by \x1f.
 */
async function openFirewall(t: ExecutionContext, host: Host, args: string[], options: { env?: Record<string, string>; asNobody?: boolean } = {}): Promise<FirewallRun> {
  const path = await toolbox(t, ['sh', 'awk', 'id', 'cat', 'grep']);
  const log = join(path, 'calls.log');
  const stub = (name: string, queries: string) =>
    writeFile(join(path, name), `#!/bin/sh\n${queries}\n{ printf '%s' ${name}; for arg; do printf '\\037%s' "$arg"; done; printf '\\n'; } >> '${log}'\n`, { mode: 0o755 });
  if (host.ufw) await stub('ufw', `[ "$1" = status ] && { echo 'Status: ${host.ufw}'; exit 0; }`);
  if (host.firewalld) await stub('firewall-cmd', `[ "$1" = --state ] && { echo '${host.firewalld}'; [ '${host.firewalld}' = running ]; exit; }`);
  if (host.nft !== undefined) {
    await writeFile(join(path, 'ruleset'), host.nft);
    const version = host.nftIsFileTracer ? `echo 'Error: File --version does not exist' >&2` : `echo 'nftables v1.0.6 (Lester Gooch #5)'`;
    await stub('nft', `[ "$1" = --version ] && { ${version}; exit 0; }\n[ "$1 $2 $3" = '-a list ruleset' ] && { cat '${join(path, 'ruleset')}'; exit 0; }`);
  }
  if (host.iptables) {
    await writeFile(join(path, 'iptables-ports'), host.iptables.map((port) => `${port}\n`).join(''));
    await stub(
      'iptables',
      `[ "$1" = -S ] && { echo '-P INPUT ACCEPT'; exit 0; }
if [ "$1" = -C ]; then
  while [ "$1" != --dport ]; do shift; done
  grep -qx "$2" '${join(path, 'iptables-ports')}'; exit
fi`,
    );
  }
  let command = join(path, 'sh');
  let commandArgs = [OPEN_FIREWALL, ...args];
  if (options.asNobody) {
    const script = join(path, 'open-firewall.sh');
    await copyFile(OPEN_FIREWALL, script);
    commandArgs = ['--reuid=65534', '--regid=65534', '--clear-groups', command, script, ...args];
    command = await whichTool('setpriv');
  }
  const result = await runCommand(command, commandArgs, { PATH: path, ...options.env });
  const recorded = await readFile(log, 'utf8').catch(() => '');
  return { ...result, commands: lines(result.stdout), ran: lines(recorded).map((line) => line.split('\x1f')) };
}

function ferryNftTable(ports: number[]): string {
  const rules = ports.map((port, index) => `\t\ttcp dport ${port} accept comment "ferry" # handle ${index + 2}\n`).join('');
  return `table inet ferry { # handle 9\n\tchain input { # handle 1\n\t\ttype filter hook input priority filter; policy accept;\n${rules}\t}\n}\n`;
}

interface Backend {
  name: 'ufw' | 'firewalld' | 'nftables' | 'iptables';
  /** A host on which open-firewall.sh picks this backend by itself. */
  detectedOn: Host;
  /** What the host holds once Ferry's rules for `ports` are in place. */
  rules(ports: number[]): Host;
  open(ports: number[]): string[];
  close(ports: number[]): string[];
}

const BACKENDS: Backend[] = [
  {
    name: 'ufw',
    detectedOn: EVERY_FIREWALL,
    rules: () => ({}),
    open: (ports) => ports.map((port) => `ufw allow ${port}/tcp comment ferry`),
    close: (ports) => ports.map((port) => `ufw delete allow ${port}/tcp`),
  },
  {
    name: 'firewalld',
    detectedOn: { ...EVERY_FIREWALL, ufw: 'inactive' },
    rules: () => ({}),
    open: (ports) => ports.flatMap((port) => [`firewall-cmd --add-port=${port}/tcp`, `firewall-cmd --permanent --add-port=${port}/tcp`]),
    close: (ports) => ports.flatMap((port) => [`firewall-cmd --remove-port=${port}/tcp`, `firewall-cmd --permanent --remove-port=${port}/tcp`]),
  },
  {
    name: 'nftables',
    detectedOn: { ...EVERY_FIREWALL, ufw: 'inactive', firewalld: 'not running' },
    rules: (ports) => ({ nft: ferryNftTable(ports) }),
    open: (ports) => [
      'nft add table inet ferry',
      `nft add chain inet ferry input ${NFT_CHAIN_SPEC}`,
      ...ports.map((port) => `nft insert rule inet ferry input tcp dport ${port} accept comment ferry`),
    ],
    close: (ports) => [...ports.map((_, index) => `nft delete rule inet ferry input handle ${index + 2}`), 'nft delete table inet ferry'],
  },
  {
    name: 'iptables',
    detectedOn: { ufw: 'inactive', firewalld: 'not running', iptables: [] },
    rules: (ports) => ({ iptables: ports }),
    open: (ports) => ports.map((port) => `iptables -I INPUT 1 -p tcp --dport ${port} -j ACCEPT -m comment --comment ferry`),
    close: (ports) => ports.map((port) => `iptables -D INPUT -p tcp --dport ${port} -j ACCEPT -m comment --comment ferry`),
  },
];

const DEFAULT_PORTS = [8080, 8081, 8443];

test('open-firewall.sh uses ufw when active, else firewalld when running, else nftables, else iptables', async (t) => {
  for (const backend of BACKENDS) {
    const result = await openFirewall(t, backend.detectedOn, ['--dry-run']);
    t.is(result.code, 0, result.stderr);
    t.regex(result.stderr, new RegExp(`dry run with ${backend.name}: nothing was changed`));
  }
  const bare = await openFirewall(t, {}, ['--dry-run']);
  t.is(bare.code, 1);
  t.regex(bare.stderr, /found no firewall to change \(none of ufw, firewall-cmd, nft, iptables is installed\)/);
});

for (const backend of BACKENDS) {
  test(`with ${backend.name}, open-firewall.sh prints the commands that open and close the ports, and a real run makes exactly those`, async (t) => {
    const dryOpen = await openFirewall(t, backend.detectedOn, ['--dry-run']);
    t.is(dryOpen.code, 0, dryOpen.stderr);
    t.deepEqual(dryOpen.commands, backend.open(DEFAULT_PORTS), 'the service, ops and web client ports by default');
    t.deepEqual(dryOpen.ran, [], 'a dry run changes nothing');

    const dryClose = await openFirewall(t, { ...backend.detectedOn, ...backend.rules(DEFAULT_PORTS) }, ['--dry-run', '--close']);
    t.is(dryClose.code, 0, dryClose.stderr);
    t.deepEqual(dryClose.commands, backend.close(DEFAULT_PORTS));
    t.deepEqual(dryClose.ran, []);

    const chosen = await openFirewall(t, EVERY_FIREWALL, ['--backend', backend.name, '--dry-run', '9000', '9001']);
    t.deepEqual(chosen.commands, backend.open([9000, 9001]), '--backend wins over detection, and given ports over the defaults');
    const chosenClose = await openFirewall(t, { ...EVERY_FIREWALL, ...backend.rules([9001]) }, [`--backend=${backend.name}`, '--close', '--dry-run', '9001']);
    t.deepEqual(chosenClose.commands, backend.close([9001]));

    const open = await openFirewall(t, backend.detectedOn, []);
    t.is(open.code, 0, open.stderr);
    t.deepEqual(open.commands, backend.open(DEFAULT_PORTS));
    t.deepEqual(open.ran, backend.open(DEFAULT_PORTS).map(splitWords));
    t.regex(open.stderr, new RegExp(`opened TCP 8080 8081 8443 with ${backend.name}`));

    const close = await openFirewall(t, { ...backend.detectedOn, ...backend.rules(DEFAULT_PORTS) }, ['--close']);
    t.is(close.code, 0, close.stderr);
    t.deepEqual(close.ran, backend.close(DEFAULT_PORTS).map(splitWords));
    t.regex(close.stderr, new RegExp(`closed TCP 8080 8081 8443 with ${backend.name}`));
  });
}

test('open-firewall.sh with nftables opens the port at the top of every chain that filters input, and --close takes out only its own rules', async (t) => {
  const firewall = `table inet filter { # handle 1
\tchain input { # handle 1
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept # handle 4
\t\ttcp dport 22 accept # handle 5
\t}
\tchain forward { # handle 2
\t\ttype filter hook forward priority filter; policy drop;
\t}
}
table ip nat { # handle 2
\tchain prerouting { # handle 1
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t}
}
table ip legacy { # handle 3
\tset blocked { # handle 2
\t\ttype ipv4_addr
\t\telements = { 192.0.2.9 }
\t}
\tchain INPUT { # handle 1
\t\ttype filter hook input priority filter; policy accept;
\t\tip saddr @blocked drop # handle 3
\t}
}
`;
  const nftables = { ufw: 'inactive', nft: firewall } as const;
  const open = await openFirewall(t, nftables, ['--dry-run', '8080']);
  t.deepEqual(open.commands, ['nft insert rule inet filter input tcp dport 8080 accept comment ferry', 'nft insert rule ip legacy INPUT tcp dport 8080 accept comment ferry']);

  const opened = firewall
    .replace('\t\tct state', '\t\ttcp dport 8081 accept comment "ferry" # handle 7\n\t\ttcp dport 8080 accept comment "ferry" # handle 6\n\t\tct state')
    .replace('\t\tip saddr', '\t\ttcp dport 8080 accept comment "ferry" # handle 4\n\t\tip saddr');
  const close = await openFirewall(t, { ...nftables, nft: opened }, ['--dry-run', '--close', '8080']);
  t.deepEqual(close.commands, ['nft delete rule inet filter input handle 6', 'nft delete rule ip legacy INPUT handle 4']);
  const reopen = await openFirewall(t, { ...nftables, nft: opened }, ['--dry-run', '8080', '8081']);
  t.deepEqual(reopen.commands, ['nft insert rule ip legacy INPUT tcp dport 8081 accept comment ferry'], 'a rule already there is not added twice');

  const ownTable = await openFirewall(t, { ...nftables, nft: ferryNftTable([8080, 8081]) }, ['--dry-run', '--close', '8080']);
  t.deepEqual(ownTable.commands, ['nft delete rule inet ferry input handle 2'], 'its own table stays while it still holds a rule');
});

test('open-firewall.sh does not take another program called nft, such as the file tracer in node_modules/.bin, for nftables', async (t) => {
  const host: Host = { ufw: 'inactive', nft: '', nftIsFileTracer: true, iptables: [] };
  const detected = await openFirewall(t, host, ['--dry-run', '8080']);
  t.is(detected.code, 0, detected.stderr);
  t.deepEqual(detected.commands, ['iptables -I INPUT 1 -p tcp --dport 8080 -j ACCEPT -m comment --comment ferry'], 'iptables, the next one it tries');
  const chosen = await openFirewall(t, host, ['--backend', 'nftables', '8080']);
  t.is(chosen.code, 1);
  t.regex(chosen.stderr, /the nft first on PATH \(.*\/nft\) is not nftables' nft: put \/usr\/sbin before it in PATH/);
  t.deepEqual(chosen.ran, []);
});

test('open-firewall.sh takes its default ports from FERRY_PORT, FERRY_OPS_PORT and FERRY_WEB_PORT', async (t) => {
  const env = { FERRY_PORT: '7000', FERRY_OPS_PORT: '7001', FERRY_WEB_PORT: '7002' };
  const fromEnv = await openFirewall(t, EVERY_FIREWALL, ['--dry-run'], { env });
  t.deepEqual(fromEnv.commands, ['ufw allow 7000/tcp comment ferry', 'ufw allow 7001/tcp comment ferry', 'ufw allow 7002/tcp comment ferry']);
  const given = await openFirewall(t, EVERY_FIREWALL, ['--dry-run', '9000', '9000'], { env });
  t.deepEqual(given.commands, ['ufw allow 9000/tcp comment ferry'], 'given ports win, each once');
});

test('open-firewall.sh rejects a port outside 1-65535 and says what a port is, before touching the firewall', async (t) => {
  for (const port of ['0', '65536', '99999999', '80a', '008', '']) {
    const result = await openFirewall(t, EVERY_FIREWALL, [port]);
    t.is(result.code, 2, `port '${port}'`);
    t.true(result.stderr.includes(`invalid port '${port}': a port is a whole number from 1 to 65535`), result.stderr);
    t.deepEqual(result.commands, []);
    t.deepEqual(result.ran, []);
  }
  const fromEnv = await openFirewall(t, EVERY_FIREWALL, [], { env: { FERRY_OPS_PORT: 'http' } });
  t.is(fromEnv.code, 2);
  t.regex(fromEnv.stderr, /invalid port 'http' in FERRY_OPS_PORT/);
  const backend = await openFirewall(t, EVERY_FIREWALL, ['--backend', 'pf']);
  t.is(backend.code, 2);
  t.regex(backend.stderr, /unknown backend 'pf': choose ufw, firewalld, nftables or iptables/);
  const missing = await openFirewall(t, { ufw: 'active' }, ['--backend', 'nftables']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /--backend nftables needs `nft`, which is not installed/);
});

withTools('setpriv')('open-firewall.sh refuses to change the firewall without root, yet shows the commands with --dry-run', async (t) => {
  const refused = await openFirewall(t, EVERY_FIREWALL, [], { asNobody: true });
  t.is(refused.code, 1);
  t.regex(refused.stderr, /changing the firewall needs root: run it with sudo \(or add --dry-run to see the commands\)/);
  t.deepEqual(refused.commands, []);
  const dry = await openFirewall(t, EVERY_FIREWALL, ['--dry-run'], { asNobody: true });
  t.is(dry.code, 0, dry.stderr);
  t.deepEqual(dry.commands, ['ufw allow 8080/tcp comment ferry', 'ufw allow 8081/tcp comment ferry', 'ufw allow 8443/tcp comment ferry']);
});

test('open-firewall.sh --help names the backends in the order it tries them and says how nftables chains are opened', async (t) => {
  const result = await runCommand('sh', [OPEN_FIREWALL, '--help']);
  t.is(result.code, 0);
  t.regex(result.stdout, /ufw when `ufw status` says active,\s+firewalld when `firewall-cmd --state` says running, nftables when `nft` is\s+installed \(and `nft --version` says nftables[^)]*\), iptables when `iptables` is\s+installed/);
  t.regex(result.stdout, /an accept in one base chain does not stop another base chain from\s+dropping the packet/);
  t.is((await runCommand('sh', [OPEN_FIREWALL, '--frobnicate'])).code, 2);
});

// --- open-firewall.sh for real, on two namespaced devices --------------------

const PORT = 18080;
/** How long a connection that the firewall drops is given before it counts as blocked. */
const BLOCKED_AFTER_MS = 1_500;
/** A connection over a veth pair is answered at once; this only bounds a failure. */
const CONNECT_LIMIT_MS = 10_000;

const LISTEN = `require('node:net').createServer((socket) => socket.end()).listen(Number(process.argv[2]), process.argv[1], () => console.log('listening'));`;
const CONNECT = `const socket = require('node:net').connect(Number(process.argv[2]), process.argv[1]);
setTimeout(() => { console.log('timed out'); process.exit(0); }, Number(process.argv[3]));
socket.on('connect', () => { console.log('connected'); process.exit(0); });
socket.on('error', (error) => { console.log(error.code); process.exit(0); });`;

/** Starts a TCP server on the server device, stopped when the test ends. */
async function listenOnServer(t: ExecutionContext, lan: TwoDevices): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', lan.server.ns, process.execPath, '-e', LISTEN, lan.server.ip, String(PORT)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    child.kill();
    await exited;
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await Promise.race([
    new Promise<void>((resolve) => child.stdout.once('data', () => resolve())),
    exited.then(() => Promise.reject(new Error(`the listener stopped: ${stderr}`))),
  ]);
}

/** What a connection from the client device to the server's port comes to: connected, timed out or an error code. */
async function connectFromClient(lan: TwoDevices, waitMs: number): Promise<string> {
  const { stdout } = await lan.exec(lan.client.ns, process.execPath, ['-e', CONNECT, lan.server.ip, String(PORT), String(waitMs)]);
  return stdout.trim();
}

const REAL_FIREWALLS = [
  {
    backend: 'nftables',
    tool: 'nft',
    block: [
      ['nft', 'add', 'table', 'inet', 'blocker'],
      ['nft', 'add', 'chain', 'inet', 'blocker', 'input', '{ type filter hook input priority 0 ; policy accept ; }'],
      ['nft', 'add', 'rule', 'inet', 'blocker', 'input', 'tcp', 'dport', String(PORT), 'drop'],
    ],
    list: ['nft', 'list', 'ruleset'],
    drop: `tcp dport ${PORT} drop`,
  },
  {
    backend: 'iptables',
    tool: 'iptables',
    block: [['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', String(PORT), '-j', 'DROP']],
    list: ['iptables', '-S', 'INPUT'],
    drop: `--dport ${PORT} -j DROP`,
  },
];

for (const firewall of REAL_FIREWALLS) {
  withTools('ip', firewall.tool)(`on a device whose ${firewall.backend} rules drop port ${PORT}, open-firewall.sh lets connections in and --close shuts them out again`, async (t) => {
    const lan = await twoDevices(t);
    await listenOnServer(t, lan);
    const onServer = async (command: string[]) => (await lan.exec(lan.server.ns, command[0] ?? '', command.slice(1))).stdout;
    // --backend, so that a ufw or firewalld on the host itself is never asked.
    const openFirewallOnServer = (...args: string[]) => onServer(['sh', OPEN_FIREWALL, '--backend', firewall.backend, ...args]);

    t.is(await connectFromClient(lan, CONNECT_LIMIT_MS), 'connected', 'the port is reachable before any firewall');
    for (const command of firewall.block) await onServer(command);
    t.is(await connectFromClient(lan, BLOCKED_AFTER_MS), 'timed out', 'the drop rule blocks it');

    await openFirewallOnServer(String(PORT));
    t.is(await connectFromClient(lan, CONNECT_LIMIT_MS), 'connected', 'open-firewall.sh lets it through');
    t.regex(await onServer(firewall.list), /ferry/);

    await openFirewallOnServer('--close', String(PORT));
    t.is(await connectFromClient(lan, BLOCKED_AFTER_MS), 'timed out', '--close blocks it again');
    const rules = await onServer(firewall.list);
    t.notRegex(rules, /ferry/);
    t.true(rules.includes(firewall.drop), 'the drop rule it found is left alone');
  });
}

withTools('ip', 'nft')('where no nftables chain filters input, open-firewall.sh keeps its rules in an inet ferry table, once each, and --close removes the table', async (t) => {
  const ns = await namespace(t);
  const inNamespace = async (command: string, args: string[]) => {
    const result = await ns.exec(command, args);
    t.is(result.code, 0, result.stderr);
    return result.stdout;
  };
  const openFirewallHere = (...args: string[]) => inNamespace('sh', [OPEN_FIREWALL, '--backend', 'nftables', ...args]);
  const ferryRules = async () => [...(await inNamespace('nft', ['list', 'ruleset'])).matchAll(/tcp dport (\d+) accept comment "ferry"/g)].map((match) => match[1]);

  await openFirewallHere('18080', '18081');
  t.regex(await inNamespace('nft', ['list', 'table', 'inet', 'ferry']), /type filter hook input priority filter; policy accept;/);
  t.deepEqual((await ferryRules()).sort(), ['18080', '18081']);
  await openFirewallHere('18080', '18081');
  t.deepEqual((await ferryRules()).sort(), ['18080', '18081'], 'opening again adds nothing');

  await openFirewallHere('--close', '18080');
  t.deepEqual(await ferryRules(), ['18081']);
  await openFirewallHere('--close', '18081');
  t.is(await inNamespace('nft', ['list', 'tables']), '', 'the empty table is gone');
});

// --- the shell and PowerShell sources -----------------------------------------

test('the shell scripts are executable and valid for sh and bash', async (t) => {
  for (const script of [LAN_ADDRESS, OPEN_FIREWALL]) {
    t.not((await stat(script)).mode & 0o111, 0, `${script} is executable`);
    for (const shell of ['sh', 'bash']) {
      const result = await runCommand(shell, ['-n', script]);
      t.is(result.code, 0, `${shell} -n ${script}: ${result.stderr}`);
    }
  }
});

withTools('shellcheck')('the shell scripts are clean under shellcheck', async (t) => {
  const result = await runCommand('shellcheck', ['--shell=sh', LAN_ADDRESS, OPEN_FIREWALL]);
  t.is(result.code, 0, result.stdout);
});

const POWERSHELL_SCRIPTS = [
  { file: 'lan-address.ps1', parameters: ['Help'], calls: ['Get-NetIPAddress -AddressFamily IPv4', 'Get-NetIPInterface -AddressFamily IPv4 -ConnectionState Connected'] },
  { file: 'open-firewall.ps1', parameters: ['Port', 'Close', 'DryRun', 'Help'], calls: ["'New-NetFirewallRule'", "'Remove-NetFirewallRule'", '$name = "Ferry $number"'] },
];

for (const { file, parameters, calls } of POWERSHELL_SCRIPTS) {
  test(`${file} parses, and declares, uses and documents each of its parameters (${parameters.map((name) => `-${name}`).join(', ')})`, async (t) => {
    const path = join(SCRIPTS, file);
    const text = await readFile(path, 'utf8');
    const help = /^<#([\s\S]*?)#>/.exec(text)?.[1] ?? '';
    t.regex(help, /\.SYNOPSIS\s+\S/, 'comment-based help comes first');
    const param = /^param\(([\s\S]*?)^\)/m.exec(text);
    if (!param) return t.fail('no param() block');
    t.deepEqual([...(param[1] ?? '').matchAll(/\$(\w+)/g)].map((match) => match[1]), parameters, 'declared in param()');
    t.deepEqual([...help.matchAll(/^\.PARAMETER (\w+)$/gm)].map((match) => match[1]), parameters, 'documented in the help');
    const body = text.slice(param.index + param[0].length);
    for (const name of parameters) t.regex(body, new RegExp(`\\$${name}\\b`), `$${name} is used`);
    t.regex(body, /if \(\$Help\) \{\s+Get-Help -Name \$PSCommandPath -Full\s+exit 0/, '-Help shows the help');
    for (const call of calls) t.true(body.includes(call), call);

    if (!hasTool('pwsh')) {
      t.log('pwsh is not installed (Debian has no package for it): reviewed above, not parsed');
      return;
    }
    const parse = `$tokens = $null; $errors = $null; [void][System.Management.Automation.Language.Parser]::ParseFile('${path}', [ref]$tokens, [ref]$errors); $errors | ForEach-Object { $_.ToString() }; exit $errors.Count`;
    const result = await runCommand('pwsh', ['-NoProfile', '-NonInteractive', '-Command', parse]);
    t.is(result.code, 0, result.stdout + result.stderr);
  });
}
