import test from 'ava';
import { appendFile, mkdir, readdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { planUpload, uploadPlan } from '../../src/client/upload-plan.js';
import { tempDir } from '../helpers/files.js';
import { startServer } from '../helpers/server.js';

// Small files are read whole ahead of their turn; a file that changed size since the
// plan measured it must still be refused, and nothing stored under its name.
for (const change of ['grew', 'shrank'] as const) {
  test(`a small file that ${change} between planning and sending is refused and not stored`, async (t) => {
    const server = await startServer(t);
    const client = await server.connect();
    const dir = join(await tempDir(t), 'set');
    await mkdir(dir);
    await writeFile(join(dir, 'changes.txt'), 'x'.repeat(4096));
    await writeFile(join(dir, 'steady.txt'), 'y'.repeat(4096));
    const plan = await planUpload([dir], '/');
    if (change === 'grew') await appendFile(join(dir, 'changes.txt'), 'more');
    else await truncate(join(dir, 'changes.txt'), 100);

    const outcomes = await uploadPlan(client, plan);
    const changed = outcomes.find((outcome) => outcome.local.endsWith('changes.txt'));
    t.is(changed?.error?.code, 'LOCAL_IO');
    t.regex(changed?.error?.message ?? '', new RegExp(`the file ${change} while it was being sent`));
    t.is(outcomes.find((outcome) => outcome.local.endsWith('steady.txt'))?.error, undefined, 'the other file still goes');
    t.deepEqual(await readdir(join(server.filesDir, 'set')), ['steady.txt']);
  });
}
