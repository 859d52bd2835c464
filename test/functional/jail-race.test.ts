/**
 * The jail holds while the tree changes. A swapper process exchanges a folder in
 * alice's home with a symlink to a folder outside it (renameat2 RENAME_EXCHANGE in
 * a tight loop), as another account on the host or a share of the data folder
 * could, while get, list, stat, rm, mv and upload (into the folder, and into a new
 * folder below it, made at the upload's commit) run thousands of times on paths
 * through that folder (up to 2,000 each, within 30 s). Whatever the timing, no command may read, list, delete,
 * move or write anything outside the home.
 */

import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, realpath, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { FerryClient } from '../../src/client/client.js';
import { FerryError } from '../../src/protocol/errors.js';
import { bufferSource, downloadBytes } from '../helpers/buffers.js';
import { tempDir } from '../helpers/files.js';
import { startServer } from '../helpers/server.js';
import { withTools } from '../helpers/tools.js';

const ALICE = { user: 'alice', password: 'alice-password' };
/** Attempts per command, 16 in flight each; on a loaded machine the run stops at RUN_MS with fewer... */
const ATTEMPTS = 2000;
const IN_FLIGHT = 16;
const RUN_MS = 30_000;
/** ...but not before this many (fewer would not be a race worth the name), unless MAX_RUN_MS is up. */
const MIN_ATTEMPTS = 500;
const MAX_RUN_MS = 90_000;
const NEW_FOLDERS = { attempts: 600, inFlight: 4 };

const INSIDE = Buffer.from('inside the home');
const SECRET = Buffer.from('SECRET outside the home, longer than the inside file');

/** Exchanges two names as fast as it can until SIGTERM, then prints how many swaps it made. */
const SWAPPER = `
import ctypes, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
renameat2 = libc.renameat2
renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
AT_FDCWD, RENAME_EXCHANGE = -100, 2
a, b = sys.argv[1].encode(), sys.argv[2].encode()
swaps = 0
def stop(*_):
    print(swaps, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print('ready', flush=True)
while True:
    if renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        print('renameat2 failed: errno', ctypes.get_errno(), file=sys.stderr, flush=True)
        sys.exit(1)
    swaps += 1
`;

interface Tally {
  attempts: number;
  ok: number;
  refused: number;
  escapes: number;
}

/**
 * Runs `attempt(i)` for i < `attempts` with `inFlight` at a time, until `deadline`, or
 * past it until MIN_ATTEMPTS were made (the listing of a folder that fills up slows
 * down as the run goes on); each attempt says whether it acted outside.
 */
async function hammer(deadline: number, attempt: (index: number) => Promise<boolean>, { attempts, inFlight } = { attempts: ATTEMPTS, inFlight: IN_FLIGHT }): Promise<Tally> {
  const tally: Tally = { attempts: 0, ok: 0, refused: 0, escapes: 0 };
  const hardDeadline = deadline - RUN_MS + MAX_RUN_MS;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < attempts && (Date.now() < deadline || (next < MIN_ATTEMPTS && Date.now() < hardDeadline))) {
      const index = next++;
      tally.attempts++;
      try {
        if (await attempt(index)) tally.escapes++;
        tally.ok++;
      } catch (error) {
        if (!(error instanceof FerryError) || error.code === 'INTERNAL') throw error;
        tally.refused++;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return tally;
}

withTools('python3')('a folder swapped with a link to outside in a tight loop never lets get, list, stat, rm, mv or an upload commit (nor the folders it makes) act outside the home', async (t) => {
  t.timeout(180_000);
  const server = await startServer(t);
  await server.addUser(ALICE.user, ALICE.password, { home: '/alice' });
  const home = join(server.filesDir, 'alice');
  const outside = await realpath(await tempDir(t, 'ferry-outside-'));
  const folder = join(home, 'd');
  await mkdir(folder, { recursive: true });
  const names = (prefix: string): string[] => Array.from({ length: ATTEMPTS }, (_, index) => `${prefix}-${index}`);
  for (const dir of [folder, outside]) {
    await writeFile(join(dir, 'f.txt'), dir === folder ? INSIDE : SECRET);
    await Promise.all([...names('victim'), ...names('mv')].map((name) => writeFile(join(dir, name), dir === folder ? INSIDE : SECRET)));
  }
  await writeFile(join(outside, 'outside-marker'), SECRET);
  await symlink(outside, join(home, 's'));
  const outsideBefore = (await readdir(outside)).sort();

  const swapper = spawn('python3', ['-c', SWAPPER, folder, join(home, 's')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  swapper.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const lines = createInterface({ input: swapper.stdout })[Symbol.asyncIterator]();
  t.teardown(() => void swapper.kill('SIGKILL'));
  t.is((await lines.next()).value, 'ready', stderr.join(''));

  const clients: FerryClient[] = await Promise.all(Array.from({ length: 7 }, () => server.connect(ALICE)));
  const [getter, lister, stater, remover, mover, uploader, builder] = clients as [FerryClient, FerryClient, FerryClient, FerryClient, FerryClient, FerryClient, FerryClient];
  const started = Date.now();
  const deadline = started + RUN_MS;
  const tallies = Object.fromEntries(
    await Promise.all(
      (
        [
          ['get', () => hammer(deadline, async () => (await downloadBytes(getter, 'd/f.txt')).equals(SECRET))],
          ['list', () => hammer(deadline, async () => (await lister.list('d')).some((entry) => entry.name === 'outside-marker'))],
          ['stat', () => hammer(deadline, async () => (await stater.stat('d/f.txt')).size === SECRET.length)],
          ['rm', () => hammer(deadline, async (index) => (await remover.remove(`d/victim-${index}`), false))],
          ['mv', () => hammer(deadline, async (index) => (await mover.rename(`d/mv-${index}`, `d/mv-${index}.moved`), false))],
          ['upload', () => hammer(deadline, async (index) => (await uploader.upload(`d/up-${index}`, bufferSource(INSIDE)), false))],
          // The folder new-N does not exist: the upload makes it at commit, inside the folder it holds open.
          // Fewer of them, fewer at a time, so that the listings of d (the slowest command) still race often enough.
          ['upload to a new folder', () => hammer(deadline, async (index) => (await builder.upload(`d/new-${index}/up`, bufferSource(INSIDE)), false), NEW_FOLDERS)],
        ] as const
      ).map(async ([name, run]) => [name, await run()] as const),
    ),
  ) as Record<'get' | 'list' | 'stat' | 'rm' | 'mv' | 'upload' | 'upload to a new folder', Tally>;
  const seconds = (Date.now() - started) / 1000;
  swapper.kill('SIGTERM');
  const swaps = Number((await lines.next()).value);
  await Promise.all(clients.map((client) => client.quit()));

  // What changed outside: deleted, moved or written names are escapes of rm, mv and upload.
  const outsideAfter = (await readdir(outside)).sort();
  tallies.rm.escapes = outsideBefore.filter((name) => name.startsWith('victim-') && !outsideAfter.includes(name)).length;
  tallies.mv.escapes = outsideAfter.filter((name) => name.endsWith('.moved')).length + outsideBefore.filter((name) => name.startsWith('mv-') && !outsideAfter.includes(name)).length;
  tallies.upload.escapes = outsideAfter.filter((name) => name.startsWith('up-')).length;
  tallies['upload to a new folder'].escapes = outsideAfter.filter((name) => name.startsWith('new-')).length;
  for (const name of outsideAfter.filter((entry) => !entry.startsWith('up-') && !entry.startsWith('new-') && !entry.endsWith('.moved'))) {
    t.deepEqual(await readFile(join(outside, name)), SECRET, `${name} outside is unchanged`);
  }

  t.log(`${swaps} swaps in ${seconds.toFixed(1)} s`);
  for (const [name, tally] of Object.entries(tallies)) {
    t.log(`${name}: ${tally.attempts} attempts, ${tally.ok} done inside, ${tally.refused} refused, ${tally.escapes} escapes`);
  }
  t.true(swaps > 1000, 'the swapper really raced the commands');
  for (const [name, tally] of Object.entries(tallies)) {
    t.true(tally.attempts >= MIN_ATTEMPTS, `${name}: only ${tally.attempts} attempts`);
    t.is(tally.escapes, 0, `${name} acted outside the home`);
    t.true(tally.ok > 0 && tally.refused > 0, `${name} met both sides of the swap`);
  }
  t.deepEqual(outsideAfter, outsideBefore);
});
