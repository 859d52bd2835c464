import test from 'ava';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry, jsonData } from '../helpers/cli.js';
import { randomFile, sha256, sha256File, tempDir } from '../helpers/files.js';
import { startServer } from '../helpers/server.js';
import { BACKENDS } from '../helpers/stored.js';

// The core round trip runs on every storage backend.
for (const backend of BACKENDS) {
  test(`${backend}: an empty file, a file with <EOF> at a 4096-byte boundary and 64 MiB of random bytes round-trip intact through the CLI`, async (t) => {
    const server = await startServer(t, { backend });
    const local = await tempDir(t);
    const back = await tempDir(t);
    await writeFile(join(local, 'empty.bin'), Buffer.alloc(0));
    // The classroom protocol ended a file at "<EOF>": put one exactly where a 4 KiB read would split it.
    const marker = Buffer.concat([Buffer.alloc(4093, 0x61), Buffer.from('<EOF>'), Buffer.alloc(4090, 0x62), Buffer.from('<EOF>')]);
    await writeFile(join(local, 'eof.bin'), marker);
    await randomFile(join(local, 'random.bin'), 64 * 1024 * 1024);

    const names = ['empty.bin', 'eof.bin', 'random.bin'];
    const up = await ferry(['upload', ...names.map((n) => join(local, n)), '-d', '/in', '--json'], { env: server.env });
    t.is(up.code, 0, up.stderr);
    const report = jsonData(up.stdout) as { ok: boolean; files: { remote: string; sha256: string }[] };
    t.true(report.ok);

    const down = await ferry(['download', ...names.map((n) => `/in/${n}`), '-d', back], { env: server.env });
    t.is(down.code, 0, down.stderr);
    for (const name of names) {
      const expected = await sha256File(join(local, name));
      t.is(await sha256File(join(back, name)), expected, name);
      t.is(await server.stored.sha256(`in/${name}`), expected, `${name} on the server`);
      t.is(report.files.find((f) => f.remote === `/in/${name}`)?.sha256, expected);
    }
    t.deepEqual(await readFile(join(back, 'eof.bin')), marker);
  });

  test(`${backend}: names with spaces and non-ASCII characters and nested folders round-trip through the CLI`, async (t) => {
    const server = await startServer(t, { backend });
    const local = await tempDir(t);
    const back = await tempDir(t);
    const tree = join(local, 'Trip photos 2026');
    const files: Record<string, string> = {
      'read me.txt': 'hello',
      'ünïcødé ✓/日本語のファイル.txt': 'konnichiwa',
      'a/b/c/deep file.dat': 'deep',
      'a/b/sibling.txt': 'sibling',
    };
    for (const [name, content] of Object.entries(files)) {
      await mkdir(join(tree, ...name.split('/').slice(0, -1)), { recursive: true });
      await writeFile(join(tree, ...name.split('/')), content);
    }
    await mkdir(join(tree, 'empty folder'));

    const up = await ferry(['upload', tree], { env: server.env });
    t.is(up.code, 0, up.stderr);
    const down = await ferry(['download', '/Trip photos 2026', '-d', back], { env: server.env });
    t.is(down.code, 0, down.stderr);
    for (const [name, content] of Object.entries(files)) {
      t.is(sha256(await readFile(join(back, 'Trip photos 2026', ...name.split('/')))), sha256(content), name);
    }
    const listing = await ferry(['ls', '/Trip photos 2026', '--json'], { env: server.env });
    const entries = jsonData(listing.stdout) as { name: string; type: string }[];
    t.deepEqual(entries.map((e) => `${e.type}:${e.name}`).sort(), ['dir:a', 'dir:empty folder', 'dir:ünïcødé ✓', 'file:read me.txt']);
  });
}
