/**
 * No request can reach outside the user's home (docs/security.md). A real
 * server jails "alice" to the folder `alice`; sentinels sit next to her home,
 * next to the storage root and in an unrelated folder, and symlinks in her home
 * point at them. Every hostile path meets every command; the trees outside her
 * home are snapshotted (content, size, mtime, ctime, inode, links) before and
 * after each request.
 */

import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { exitCodeFor } from '../../src/cli/exit-codes.js';
import type { FerryClient } from '../../src/client/client.js';
import { FerryError, type ErrorCode } from '../../src/protocol/errors.js';
import type { Entry } from '../../src/protocol/messages.js';
import { ferry } from '../helpers/cli.js';
import { bufferSource, downloadBytes } from '../helpers/buffers.js';
import { sha256, tempDir } from '../helpers/files.js';
import { startServer, type TestServer } from '../helpers/server.js';

const ALICE = { user: 'alice', password: 'alice-password' };

/** The refusals a hostile path may earn; anything else (success, INTERNAL) is a finding. */
const REFUSALS: readonly ErrorCode[] = ['BAD_PATH', 'NOT_FOUND', 'NOT_A_DIRECTORY', 'EXISTS', 'IS_A_DIRECTORY'];

const PAYLOAD = Buffer.from('bytes alice uploaded');
const OWN = Buffer.from('alice owns this file');
const VICTIM = Buffer.from('alice renames this file');
const INSIDE = Buffer.from('a file deeper in alice home');

/** Names that exist only outside alice's home; no answer to her may mention them as entries. */
const OUTSIDE_NAMES = ['top.txt', 'secret.txt', 'deep-secret.txt', 'inner.txt', 'outside-secret.txt', 'users.json', 'private', 'alicex', 'dir'];

interface Jail {
  server: TestServer;
  client: FerryClient;
  /** Alice's home on disk. */
  home: string;
  /** A folder outside the storage root and the data folder. */
  outsideDir: string;
  /** Absolute path to expected bytes of every file outside the home. */
  sentinels: Map<string, Buffer>;
  /** Strings that must never appear in anything the server tells alice. */
  secrets: string[];
  baseline: OutsideSnapshot;
  /** Puts alice's home back to its initial tree. */
  reset(): Promise<void>;
}

type TreeSnapshot = Record<string, string>;
type OutsideSnapshot = { storageRootBesideHome: TreeSnapshot; dataDir: TreeSnapshot; outsideDir: TreeSnapshot };

/** Every entry under `root` (not following links) with what would show any change to it. */
async function snapshotTree(root: string, skipAtTop: readonly string[] = []): Promise<TreeSnapshot> {
  const snapshot: TreeSnapshot = {};
  const visit = async (path: string, rel: string): Promise<void> => {
    const stats = await lstat(path);
    const common = `mode=${stats.mode} size=${stats.size} mtime=${stats.mtimeMs} ctime=${stats.ctimeMs} ino=${stats.ino} nlink=${stats.nlink}`;
    if (stats.isSymbolicLink()) {
      snapshot[rel] = `link -> ${await readlink(path)} ${common}`;
    } else if (stats.isFile()) {
      snapshot[rel] = `file sha256=${sha256(await readFile(path))} ${common}`;
    } else {
      snapshot[rel] = `dir ${common}`;
      const names = (await readdir(path)).filter((name) => rel !== '.' || !skipAtTop.includes(name));
      await Promise.all(names.map((name) => visit(join(path, name), rel === '.' ? name : `${rel}/${name}`)));
    }
  };
  await visit(root, '.');
  return snapshot;
}

function snapshotOutside(server: TestServer, outsideDir: string): Promise<OutsideSnapshot> {
  return Promise.all([
    snapshotTree(server.filesDir, ['alice']),
    // `tmp` is where every upload is staged; it is checked to end up empty instead.
    snapshotTree(server.dataDir, ['files', 'tmp']),
    snapshotTree(outsideDir),
  ]).then(([storageRootBesideHome, dataDir, outside]) => ({ storageRootBesideHome, dataDir, outsideDir: outside }));
}

/** The entries whose description changed, appeared or vanished. */
function outsideChanges(before: OutsideSnapshot, after: OutsideSnapshot): string[] {
  const changes: string[] = [];
  for (const tree of ['storageRootBesideHome', 'dataDir', 'outsideDir'] as const) {
    const names = new Set([...Object.keys(before[tree]), ...Object.keys(after[tree])]);
    for (const name of names) {
      if (before[tree][name] !== after[tree][name]) changes.push(`${tree}/${name}: ${before[tree][name] ?? 'absent'} => ${after[tree][name] ?? 'absent'}`);
    }
  }
  return changes;
}

async function openJail(t: ExecutionContext): Promise<Jail> {
  const server = await startServer(t);
  const outsideDir = await tempDir(t, 'ferry-outside-');
  const { filesDir } = server;
  const home = join(filesDir, 'alice');
  const sentinels = new Map<string, Buffer>();
  for (const path of [
    join(filesDir, 'top.txt'),
    join(filesDir, 'bob', 'secret.txt'),
    join(filesDir, 'bob', 'private', 'deep-secret.txt'),
    // A sibling whose name starts with "alice": a prefix check without a separator would let it in.
    join(filesDir, 'alicex', 'inner.txt'),
    join(outsideDir, 'outside-secret.txt'),
    join(outsideDir, 'dir', 'inner.txt'),
  ]) {
    const content = Buffer.from(`SENTINEL ${randomUUID()} at ${basename(path)}`);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
    sentinels.set(path, content);
  }
  await server.addUser(ALICE.user, ALICE.password, { home: '/alice' });
  const usersFile = join(server.dataDir, 'users.json');
  sentinels.set(usersFile, await readFile(usersFile));
  const secrets = [
    ...[...sentinels.values()].map((content) => content.toString()).filter((text) => text.startsWith('SENTINEL')),
    ...[...sentinels.values()].map((content) => sha256(content)),
    ...server.users.list().map((user) => user.password),
    // Where the server keeps its files is nobody's business but the operator's.
    basename(server.dataDir),
  ];

  const links: [string, string][] = [
    ['link-in', 'own.txt'],
    ['link-in-dir', 'a'],
    ['a/link-up', '..'],
    ['a/link-up2', '../..'],
    ['link-out-file', join(outsideDir, 'outside-secret.txt')],
    ['link-out-dir', outsideDir],
    ['link-out', outsideDir],
    ['link-rel', '../bob'],
    ['link-abs', join(filesDir, 'bob')],
    ['link-sibling', '../alicex'],
    ['link-users', '../../users.json'],
    ['link-root', '/'],
    ['link-dangling', join(outsideDir, 'not-yet')],
  ];
  const rebuild = async (): Promise<TreeSnapshot> => {
    await Promise.all((await readdir(home)).map((name) => rm(join(home, name), { recursive: true, force: true })));
    await mkdir(join(home, 'a', 'b'), { recursive: true });
    await Promise.all([
      writeFile(join(home, 'own.txt'), OWN),
      writeFile(join(home, 'victim.txt'), VICTIM),
      writeFile(join(home, 'a', 'inside.txt'), INSIDE),
      ...links.map(([name, target]) => symlink(target, join(home, ...name.split('/')))),
    ]);
    return snapshotTree(home);
  };
  const client = await server.connect(ALICE);
  let pristine = await rebuild();
  // Rebuilding is slow on some disks; most requests are refused and leave the home as it was.
  const reset = async (): Promise<void> => {
    const now = await snapshotTree(home);
    const same = Object.keys(now).length === Object.keys(pristine).length && Object.entries(now).every(([name, detail]) => pristine[name] === detail);
    if (!same) pristine = await rebuild();
  };
  const baseline = await snapshotOutside(server, outsideDir);
  return { server, client, home, outsideDir, sentinels, secrets, baseline, reset };
}

/** After a run: every sentinel byte for byte, the trees around the home as they were, no staged upload left over. */
async function assertOutsideIntact(t: ExecutionContext, jail: Jail): Promise<void> {
  for (const [path, content] of jail.sentinels) t.deepEqual(await readFile(path), content, path);
  t.deepEqual(outsideChanges(jail.baseline, await snapshotOutside(jail.server, jail.outsideDir)), []);
  t.deepEqual(await readdir(join(jail.server.dataDir, 'tmp')), []);
}

type Effect = 'read' | 'write' | 'entry';
interface Command {
  name: string;
  /** read: looks at it; write: creates it; entry: acts on the entry itself (delete, move). */
  effect: Effect;
  run(client: FerryClient, path: string): Promise<unknown>;
}

const COMMANDS: readonly Command[] = [
  { name: 'upload', effect: 'write', run: (c, p) => c.upload(p, bufferSource(PAYLOAD)) },
  { name: 'upload --no-clobber', effect: 'write', run: (c, p) => c.upload(p, bufferSource(PAYLOAD), { noClobber: true }) },
  { name: 'download', effect: 'read', run: (c, p) => downloadBytes(c, p) },
  { name: 'list', effect: 'read', run: (c, p) => c.list(p) },
  { name: 'list --recursive', effect: 'read', run: (c, p) => c.list(p, { recursive: true }) },
  { name: 'stat', effect: 'read', run: (c, p) => c.stat(p) },
  { name: 'delete', effect: 'entry', run: (c, p) => c.remove(p) },
  { name: 'delete --recursive', effect: 'entry', run: (c, p) => c.remove(p, { recursive: true }) },
  { name: 'rename from it', effect: 'entry', run: (c, p) => c.rename(p, 'moved-here') },
  { name: 'rename onto it', effect: 'write', run: (c, p) => c.rename('victim.txt', p) },
  { name: 'mkdir', effect: 'write', run: (c, p) => c.mkdir(p) },
];

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

async function attempt(command: Command, client: FerryClient, path: string): Promise<Outcome> {
  try {
    return { ok: true, value: await command.run(client, path) };
  } catch (error) {
    return { ok: false, error };
  }
}

function show(path: string): string {
  const shown = JSON.stringify(path);
  return shown.length > 70 ? `${shown.slice(0, 60)}..." (${path.length} chars)` : shown;
}

function describeOutcome(outcome: Outcome): string {
  if (outcome.ok) return 'success';
  return outcome.error instanceof FerryError ? `${outcome.error.code} (${outcome.error.message})` : `a non-Ferry error: ${String(outcome.error)}`;
}

/** Problems with what the server said: a leaked secret or outside name, or an error that is not a FerryError. */
function leaks(jail: Jail, outcome: Outcome): string[] {
  if (!outcome.ok) {
    if (!(outcome.error instanceof FerryError)) return [`failed without a FerryError: ${String(outcome.error)}`];
    const message = outcome.error.message;
    return jail.secrets.filter((secret) => message.includes(secret)).map((secret) => `the error message reveals ${JSON.stringify(secret)}`);
  }
  const text = Buffer.isBuffer(outcome.value) ? outcome.value.toString('latin1') : JSON.stringify(outcome.value ?? null);
  const found = jail.secrets.filter((secret) => text.includes(secret)).map((secret) => `the answer reveals ${JSON.stringify(secret)}`);
  if (Array.isArray(outcome.value)) {
    for (const entry of outcome.value as Entry[]) {
      if (OUTSIDE_NAMES.includes(entry.name.split('/').at(-1) ?? '')) found.push(`the listing names ${entry.name}, which lives outside`);
    }
  }
  return found;
}

function refusedWith(outcome: Outcome, codes: readonly ErrorCode[]): boolean {
  return !outcome.ok && outcome.error instanceof FerryError && codes.includes(outcome.error.code);
}

async function readIfFile(path: string): Promise<Buffer | undefined> {
  const stats = await lstat(path).catch(() => undefined);
  return stats?.isFile() ? readFile(path) : undefined;
}

/** That a successful write put what it should at `segments` inside the home. */
async function landedInside(jail: Jail, command: Command, segments: readonly string[]): Promise<string | undefined> {
  const target = join(jail.home, ...segments);
  if (command.name === 'mkdir') {
    const stats = await lstat(target).catch(() => undefined);
    return stats?.isDirectory() ? undefined : `mkdir reported success but ${target} is not a folder`;
  }
  const expected = command.name === 'rename onto it' ? VICTIM : PAYLOAD;
  const found = await readIfFile(target);
  return found?.equals(expected) ? undefined : `${command.name} reported success but ${target} does not hold the expected bytes`;
}

/** Runs one request on a fresh home, then checks the outside is untouched and nothing leaked. */
async function probe(jail: Jail, command: Command, path: string, judge: (outcome: Outcome) => Promise<string | undefined>): Promise<string[]> {
  await jail.reset();
  const outcome = await attempt(command, jail.client, path);
  const problems = leaks(jail, outcome);
  const verdict = await judge(outcome);
  if (verdict !== undefined) problems.push(verdict);
  if (!outcome.ok && command.name === 'rename onto it' && !(await readIfFile(join(jail.home, 'victim.txt')))?.equals(VICTIM)) {
    problems.push('a refused rename still moved victim.txt away');
  }
  problems.push(...outsideChanges(jail.baseline, await snapshotOutside(jail.server, jail.outsideDir)).map((change) => `changed outside: ${change}`));
  return problems.map((problem) => `${command.name} ${show(path)}: ${problem}`);
}

/** Spellings the path parser must refuse outright, whatever the command. */
const MALFORMED: readonly string[] = [
  '..',
  '../',
  '/..',
  '../bob/secret.txt',
  '../../users.json',
  '../top.txt',
  '/../top.txt',
  '//..//top.txt',
  'a/../../bob',
  'a/b/../../../bob/secret.txt',
  './../bob',
  '../alice/own.txt',
  'a/..',
  'link-in-dir/../../top.txt',
  '....//..//bob',
  '..\\bob',
  'a\\..\\..\\bob\\secret.txt',
  '\\..\\top.txt',
  '..\\..\\users.json',
  'C:\\..\\bob',
  '\\\\server\\share\\top.txt',
  'own.txt\u0000../../top.txt',
  '\u0000',
  '../bob\u0000',
  'bob\u0000/secret.txt',
  'a\n/../bob',
  'a\nb',
  '\r',
  '\u001b[2J',
  '\t../bob',
  '\u007f',
  '\u0085bob',
  '\ud800/bob',
  `${'a/'.repeat(2100)}x`,
  `${'../'.repeat(1400)}bob`,
  'x'.repeat(256),
];

/** Spellings that look like escapes but are plain names inside the home: where each lands. */
const LITERAL_INSIDE: readonly { path: string; lands: readonly string[] }[] = [
  { path: '/etc/passwd', lands: ['etc', 'passwd'] },
  { path: '//bob/secret.txt', lands: ['bob', 'secret.txt'] },
  { path: '/top.txt', lands: ['top.txt'] },
  { path: '///users.json', lands: ['users.json'] },
  { path: '/./bob/./secret.txt', lands: ['bob', 'secret.txt'] },
  { path: 'file:///etc/passwd', lands: ['file:', 'etc', 'passwd'] },
  { path: '%2e%2e/bob', lands: ['%2e%2e', 'bob'] },
  { path: '%2e%2e%2f%2e%2e%2ftop.txt', lands: ['%2e%2e%2f%2e%2e%2ftop.txt'] },
  { path: '..%2fbob', lands: ['..%2fbob'] },
  { path: '%252e%252e/bob', lands: ['%252e%252e', 'bob'] },
  { path: '%00', lands: ['%00'] },
  { path: '....//', lands: ['....'] },
  { path: '...', lands: ['...'] },
  { path: '.../bob', lands: ['...', 'bob'] },
  { path: '.. /top.txt', lands: ['.. ', 'top.txt'] },
  { path: ' ..', lands: [' ..'] },
  { path: '~/top.txt', lands: ['~', 'top.txt'] },
  { path: '\u2025/bob/secret.txt', lands: ['\u2025', 'bob', 'secret.txt'] },
  { path: '\u2024\u2024/top.txt', lands: ['\u2024\u2024', 'top.txt'] },
  { path: '．．/bob', lands: ['．．', 'bob'] },
  { path: '.\u200b./bob', lands: ['.\u200b.', 'bob'] },
  { path: '\u2215..\u2215bob', lands: ['\u2215..\u2215bob'] },
  { path: '\uff0f..\uff0ftop.txt', lands: ['\uff0f..\uff0ftop.txt'] },
];

/** Links in the home that lead outside it, named as entries: which entry on disk each one is. */
const OUTWARD_LINKS: readonly { path: string; entry: readonly string[] }[] = [
  { path: 'link-out-file', entry: ['link-out-file'] },
  { path: 'link-out-dir', entry: ['link-out-dir'] },
  { path: '/link-out-dir/', entry: ['link-out-dir'] },
  { path: 'link-out-dir/.', entry: ['link-out-dir'] },
  { path: 'link-rel', entry: ['link-rel'] },
  { path: 'link-abs', entry: ['link-abs'] },
  { path: 'link-sibling', entry: ['link-sibling'] },
  { path: 'link-users', entry: ['link-users'] },
  { path: 'link-root', entry: ['link-root'] },
  { path: 'link-dangling', entry: ['link-dangling'] },
  { path: 'a/link-up2', entry: ['a', 'link-up2'] },
  { path: 'link-in-dir/link-up2', entry: ['a', 'link-up2'] },
  { path: 'a/link-up/link-rel', entry: ['link-rel'] },
];

/** Paths that pass through a link leading outside; some name something there, some do not. */
function throughOutwardLinks(outsideDir: string): string[] {
  return [
    'link-out-file/x',
    'link-out-dir/outside-secret.txt',
    'link-out-dir/dir/inner.txt',
    'link-out-dir/dir',
    'link-out-dir/missing.txt',
    'link-out-dir/missing/deeper.txt',
    'link-rel/secret.txt',
    'link-rel//private',
    'link-rel/missing.txt',
    'link-abs/private/deep-secret.txt',
    'link-sibling/inner.txt',
    'link-root/etc/passwd',
    `link-root${outsideDir}/outside-secret.txt`,
    'link-dangling/x',
    'a/link-up2/top.txt',
    'a/link-up2/bob/secret.txt',
    'link-in-dir/link-up2/top.txt',
    'a/link-up/a/link-up2/bob',
  ];
}

test('every spelling of a path that climbs out, hides a separator or carries a control character is refused as BAD_PATH by every command', async (t) => {
  const jail = await openJail(t);
  const problems: string[] = [];
  for (const path of MALFORMED) {
    for (const command of COMMANDS) {
      problems.push(...(await probe(jail, command, path, async (outcome) => (refusedWith(outcome, ['BAD_PATH']) ? undefined : `expected BAD_PATH, got ${describeOutcome(outcome)}`))));
    }
  }
  t.deepEqual(problems, []);
  await assertOutsideIntact(t, jail);
});

test('absolute, percent-encoded and look-alike paths are plain names inside the home: reads find nothing, writes land inside', async (t) => {
  const jail = await openJail(t);
  const problems: string[] = [];
  for (const { path, lands } of LITERAL_INSIDE) {
    for (const command of COMMANDS) {
      problems.push(
        ...(await probe(jail, command, path, async (outcome) => {
          // Renaming needs the parent folder to exist already; the home is fresh, so only a top-level name has one.
          const mustLand = command.name === 'rename onto it' ? lands.length === 1 : command.effect === 'write';
          if (!mustLand) return refusedWith(outcome, ['NOT_FOUND']) ? undefined : `expected NOT_FOUND inside the home, got ${describeOutcome(outcome)}`;
          if (!outcome.ok) return `expected it to land inside the home at ${lands.join('/')}, got ${describeOutcome(outcome)}`;
          return landedInside(jail, command, lands);
        })),
      );
    }
  }
  t.deepEqual(problems, []);
  await assertOutsideIntact(t, jail);
});

test('no command follows a symlink that leads outside the home, and deleting or replacing such a link touches only the link', async (t) => {
  const jail = await openJail(t);
  const problems: string[] = [];
  for (const { path, entry } of OUTWARD_LINKS) {
    await jail.reset();
    const onDisk = join(jail.home, ...entry);
    const target = await readlink(onDisk);
    for (const command of COMMANDS) {
      problems.push(
        ...(await probe(jail, command, path, async (outcome) => {
          if (refusedWith(outcome, REFUSALS)) return undefined;
          if (!outcome.ok) return `expected a refusal among ${REFUSALS.join('/')}, got ${describeOutcome(outcome)}`;
          // Success is acceptable only where it acts on the link itself, never on what it points to.
          switch (command.name) {
            case 'upload':
            case 'upload --no-clobber':
            case 'rename onto it':
              return landedInside(jail, command, entry);
            case 'delete':
            case 'delete --recursive':
              return (await lstat(onDisk).catch(() => undefined)) === undefined ? undefined : `${command.name} reported success but the link is still there`;
            case 'rename from it': {
              const moved = await readlink(join(jail.home, 'moved-here')).catch(() => undefined);
              return moved === target ? undefined : 'rename reported success but did not move the link itself';
            }
            default:
              return `${command.name} must refuse a link that leads outside the home, but it succeeded`;
          }
        })),
      );
    }
  }
  for (const path of throughOutwardLinks(jail.outsideDir)) {
    for (const command of COMMANDS) {
      problems.push(
        ...(await probe(jail, command, path, async (outcome) => (refusedWith(outcome, REFUSALS) ? undefined : `expected a refusal among ${REFUSALS.join('/')}, got ${describeOutcome(outcome)}`))),
      );
    }
  }
  t.deepEqual(problems, []);
  await assertOutsideIntact(t, jail);
});

test('a path through a link that leads outside is refused as BAD_PATH whether or not something exists there, so the outside cannot be probed', async (t) => {
  const jail = await openJail(t);
  const probing = COMMANDS.filter((command) => command.effect === 'read' || command.name === 'mkdir');
  const answers: string[] = [];
  for (const path of [...throughOutwardLinks(jail.outsideDir), ...OUTWARD_LINKS.map((link) => link.path)]) {
    for (const command of probing) {
      await jail.reset();
      const outcome = await attempt(command, jail.client, path);
      if (!refusedWith(outcome, ['BAD_PATH'])) answers.push(`${command.name} ${show(path)}: ${describeOutcome(outcome)}`);
    }
  }
  t.deepEqual(answers, [], 'each of these answers tells alice something about a place outside her home');
  await assertOutsideIntact(t, jail);
});

test('a symlink loop in the home is refused with a clear error that does not reveal where the server keeps its files', async (t) => {
  const jail = await openJail(t);
  const problems: string[] = [];
  const readers = COMMANDS.filter((command) => command.effect === 'read' || command.name === 'mkdir');
  for (const path of ['loop', 'loop/x']) {
    for (const command of readers) {
      await jail.reset();
      await symlink('loop', join(jail.home, 'loop'));
      const outcome = await attempt(command, jail.client, path);
      if (!refusedWith(outcome, ['BAD_PATH', 'NOT_FOUND'])) problems.push(`${command.name} ${show(path)}: expected BAD_PATH or NOT_FOUND, got ${describeOutcome(outcome)}`);
      problems.push(...leaks(jail, outcome).map((leak) => `${command.name} ${show(path)}: ${leak}`));
    }
  }
  t.deepEqual(problems, []);
  await assertOutsideIntact(t, jail);
});

test('moving a relative link so that it would point outside does not open a way out', async (t) => {
  const jail = await openJail(t);
  const { client } = jail;
  // a/link-up is ".." (the home); moved to the top of the home, ".." is the storage root.
  await client.rename('a/link-up', 'up');
  for (const path of ['up', 'up/top.txt', 'up/bob/secret.txt', 'up/alicex/inner.txt']) {
    const error = await t.throwsAsync(downloadBytes(client, path), { instanceOf: FerryError }, path);
    t.is(error?.code, 'BAD_PATH', path);
    await t.throwsAsync(client.list(path), { instanceOf: FerryError }, path);
    await t.throwsAsync(client.upload(`${path}/new.txt`, bufferSource(PAYLOAD)), { instanceOf: FerryError }, path);
  }
  const names = (await client.list('/', { recursive: true })).map((entry) => entry.name);
  t.false(names.includes('up'), 'a link that leads outside is not listed');
  t.deepEqual(names.filter((name) => OUTSIDE_NAMES.includes(name.split('/').at(-1) ?? '')), []);
  await assertOutsideIntact(t, jail);
});

test('a symlink that points inside the home keeps working, and /x, x, ./x and a//b all name places inside the home', async (t) => {
  const jail = await openJail(t);
  const { client, home } = jail;

  t.deepEqual(await downloadBytes(client, 'link-in'), OWN);
  t.is((await client.stat('link-in')).sha256, sha256(OWN));
  t.deepEqual(await downloadBytes(client, 'link-in-dir/inside.txt'), INSIDE);
  t.deepEqual(await downloadBytes(client, 'a/link-up/own.txt'), OWN);
  t.deepEqual((await client.list('link-in-dir')).map((entry) => entry.name).sort(), ['b', 'inside.txt', 'link-up']);

  // Links leading outside are left out of listings; links staying inside are listed but not descended.
  t.deepEqual((await client.list('/')).map((entry) => entry.name).sort(), ['a', 'link-in', 'link-in-dir', 'own.txt', 'victim.txt']);
  t.deepEqual((await client.list('/', { recursive: true })).map((entry) => entry.name).sort(), [
    'a',
    'a/b',
    'a/inside.txt',
    'a/link-up',
    'link-in',
    'link-in-dir',
    'own.txt',
    'victim.txt',
  ]);

  await client.upload('/x', bufferSource(PAYLOAD));
  t.deepEqual(await readFile(join(home, 'x')), PAYLOAD);
  for (const spelling of ['/x', 'x', './x', '//x', '/./x']) {
    t.deepEqual(await downloadBytes(client, spelling), PAYLOAD, spelling);
    t.is((await client.stat(spelling)).sha256, sha256(PAYLOAD), spelling);
  }
  t.is((await client.stat('a//b')).type, 'dir');
  await client.upload('a//b//c.txt', bufferSource(INSIDE));
  t.deepEqual(await readFile(join(home, 'a', 'b', 'c.txt')), INSIDE);
  t.deepEqual(await downloadBytes(client, '/a/b/c.txt'), INSIDE);

  await client.mkdir('./d//e');
  t.true((await lstat(join(home, 'd', 'e'))).isDirectory());
  await client.rename('./x', 'd//e/./y');
  t.deepEqual(await readFile(join(home, 'd', 'e', 'y')), PAYLOAD);
  await client.remove('/d', { recursive: true });
  await t.throwsAsync(lstat(join(home, 'd')));
  await assertOutsideIntact(t, jail);
});

test('the CLI refuses hostile paths with a non-zero exit and a message that says why', async (t) => {
  const jail = await openJail(t);
  const local = await tempDir(t);
  const downloads = await tempDir(t);
  await writeFile(join(local, 'note.txt'), PAYLOAD);
  const env = { ...jail.server.env, FERRY_USER: ALICE.user, FERRY_PASSWORD: ALICE.password };
  const climbs = /climbs out with "\.\."; name the path from your home/;
  const cases: { args: string[]; code: ErrorCode; message: RegExp }[] = [
    { args: ['stat', '../bob/secret.txt'], code: 'BAD_PATH', message: climbs },
    { args: ['download', '../bob/secret.txt', '-d', downloads], code: 'BAD_PATH', message: climbs },
    { args: ['download', 'link-out-file', '-d', downloads], code: 'BAD_PATH', message: /link that leads outside your home/ },
    { args: ['ls', 'link-rel'], code: 'BAD_PATH', message: /link that leads outside your home/ },
    { args: ['rm', '-r', 'a\\..\\..\\bob'], code: 'BAD_PATH', message: /backslash; remote paths use "\/" between folders/ },
    { args: ['mkdir', '/../escaped'], code: 'BAD_PATH', message: climbs },
    { args: ['mv', 'own.txt', '../top.txt'], code: 'BAD_PATH', message: climbs },
    { args: ['upload', join(local, 'note.txt'), '-d', '../bob'], code: 'BAD_PATH', message: climbs },
    { args: ['stat', '/etc/passwd'], code: 'NOT_FOUND', message: /\/etc\/passwd does not exist/ },
  ];
  const results = await Promise.all(cases.map((c) => ferry(c.args, { env })));
  cases.forEach((c, i) => {
    const result = results[i];
    if (result === undefined) return t.fail(c.args.join(' '));
    const label = `ferry ${c.args.join(' ')}`;
    t.not(result.code, 0, label);
    t.is(result.code, exitCodeFor(c.code), label);
    t.regex(`${result.stderr}${result.stdout}`, c.message, label);
    t.notRegex(result.stderr, /unexpected error|\n\s+at /, `${label} prints a message, not a stack`);
    for (const secret of jail.secrets) t.false(`${result.stdout}${result.stderr}`.includes(secret), `${label} reveals nothing from outside`);
  });
  t.deepEqual(await readdir(downloads), [], 'nothing was downloaded');
  t.deepEqual(await readFile(join(jail.home, 'own.txt')), OWN, 'the refused move left own.txt alone');
  await assertOutsideIntact(t, jail);
});

const UPLOAD = COMMANDS[0] as Command;
const PROPERTY_SEGMENTS = ['..', '.', '', 'a', 'bob', 'link-out', '%2e%2e', '\\', '\u0000'];

/** What the server must do with an upload to `segments` joined by '/' (the home's tree is known). */
function expectedUpload(raw: readonly string[]): { refused: ErrorCode } | { lands: string[] } | 'replaces-link' {
  if (raw.some((segment) => segment === '..' || segment.includes('\\') || segment.includes('\u0000'))) return { refused: 'BAD_PATH' };
  const segments = raw.filter((segment) => segment !== '' && segment !== '.');
  if (segments.length === 0) return { refused: 'BAD_PATH' };
  if (segments[0] === 'link-out') return segments.length === 1 ? 'replaces-link' : { refused: 'BAD_PATH' };
  if (segments.length === 1 && segments[0] === 'a') return { refused: 'IS_A_DIRECTORY' };
  return { lands: segments };
}

test('property: an upload to any path built from dots, separators, encodings and an outward link never lands outside the home', async (t) => {
  const jail = await openJail(t);
  const property = fc.asyncProperty(
    fc.boolean(),
    fc.array(fc.constantFrom(...PROPERTY_SEGMENTS), { minLength: 1, maxLength: 8 }),
    async (leadingSlash, raw) => {
      const path = `${leadingSlash ? '/' : ''}${raw.join('/')}`;
      await jail.reset();
      // Compared with the moment before this run, so a failure is pinned on the path that caused it.
      const before = await snapshotOutside(jail.server, jail.outsideDir);
      const outcome = await attempt(UPLOAD, jail.client, path);
      const expected = expectedUpload(leadingSlash ? ['', ...raw] : raw);
      const problems = leaks(jail, outcome);
      if (expected === 'replaces-link') {
        const ok = refusedWith(outcome, REFUSALS) || (outcome.ok && (await readIfFile(join(jail.home, 'link-out')))?.equals(PAYLOAD) === true);
        if (!ok) problems.push(`expected a refusal or the link itself replaced, got ${describeOutcome(outcome)}`);
      } else if ('refused' in expected) {
        if (!refusedWith(outcome, [expected.refused])) problems.push(`expected ${expected.refused}, got ${describeOutcome(outcome)}`);
      } else if (!outcome.ok || !(await readIfFile(join(jail.home, ...expected.lands)))?.equals(PAYLOAD)) {
        problems.push(`expected it to land at ${expected.lands.join('/')} inside the home, got ${describeOutcome(outcome)}`);
      }
      problems.push(...outsideChanges(before, await snapshotOutside(jail.server, jail.outsideDir)));
      if (problems.length > 0) throw new Error(`upload ${show(path)}: ${problems.join('; ')}`);
    },
  );
  const details = await fc.check(property, { numRuns: 200 });
  t.false(details.failed, fc.defaultReportMessage(details) ?? 'the property failed');
  await assertOutsideIntact(t, jail);
});
