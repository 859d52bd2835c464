/**
 * Every command's --json output against the one schema in
 * docs/json-output.schema.json: the envelope ({ok, data} or {ok: false, error}),
 * and the data each command documents, for successes and failures alike.
 */

import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ERROR_CODES } from '../../src/protocol/errors.js';
import { REPO_ROOT, ferry, type RunResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { validate } from '../helpers/json-schema.js';
import { startServer } from '../helpers/server.js';

const schema = JSON.parse(await readFile(join(REPO_ROOT, 'docs', 'json-output.schema.json'), 'utf8')) as Record<string, unknown>;

interface Case {
  args: string[];
  /** The $defs entry the data must match (none: the command failed before it had data). */
  data?: string;
  ok: boolean;
  exit: number;
  /** Where the envelope is printed: stdout unless the data owns it. */
  stream?: 'stdout' | 'stderr';
  input?: string;
}

function envelopeOf(result: RunResult, stream: 'stdout' | 'stderr'): Record<string, unknown> {
  const text = stream === 'stdout' ? result.stdout : result.stderr.split('\n').filter((line) => line.startsWith('{"ok"')).join('\n');
  return JSON.parse(text) as Record<string, unknown>;
}

test('the schema names every code of the error catalogue, and no other', (t) => {
  const defs = schema.$defs as Record<string, { properties: { code: { enum: string[] } } }>;
  t.deepEqual([...(defs.error?.properties.code.enum ?? [])].sort(), Object.keys(ERROR_CODES).sort());
});

test("every command's --json output is one envelope of the documented schema, failures included", async (t) => {
  const server = await startServer(t);
  const local = await tempDir(t);
  const config = await tempDir(t);
  await writeFile(join(local, 'a.txt'), 'alpha');
  await writeFile(join(local, 'b.txt'), 'beta');
  await server.stored.write('docs/readme.txt', 'hello');
  const env = { ...server.env, XDG_CONFIG_HOME: config };
  const cases: Case[] = [
    { args: ['upload', join(local, 'a.txt'), join(local, 'b.txt'), '-d', '/in'], data: 'transfer', ok: true, exit: 0 },
    { args: ['upload', join(local, 'a.txt'), join(local, 'b.txt'), '-d', '/in', '--skip-existing'], data: 'transfer', ok: true, exit: 0 },
    { args: ['upload', join(local, 'a.txt'), join(local, 'missing.txt'), '-d', '/in'], data: 'transfer', ok: false, exit: 8 },
    { args: ['upload', '-', 'piped.txt'], data: 'transfer', ok: true, exit: 0, input: 'from a pipe' },
    { args: ['download', '/in/a.txt', '-d', local, '--no-clobber'], data: 'transfer', ok: false, exit: 1 },
    { args: ['download', '/docs/readme.txt', '-d', local], data: 'transfer', ok: true, exit: 0 },
    { args: ['download', '/docs/readme.txt', '-o', '-'], data: 'transfer', ok: true, exit: 0, stream: 'stderr' },
    { args: ['download', '/nothing-here.txt', '-o', '-'], ok: false, exit: 4, stream: 'stderr' },
    { args: ['sync', local, ':/synced'], data: 'sync', ok: true, exit: 0 },
    { args: ['sync', ':/docs', join(local, 'pulled'), '--dry-run'], data: 'sync', ok: true, exit: 0 },
    { args: ['sync', join(local, 'no-such-folder'), ':/synced'], ok: false, exit: 4 },
    { args: ['ls', '/docs'], data: 'ls', ok: true, exit: 0 },
    { args: ['ls', '/nowhere'], ok: false, exit: 4 },
    { args: ['stat', '/docs/readme.txt'], data: 'stat', ok: true, exit: 0 },
    { args: ['mkdir', '/made', '/made/deeper'], data: 'eachPath', ok: true, exit: 0 },
    { args: ['mv', '/piped.txt', '/made/'], data: 'mv', ok: true, exit: 0 },
    { args: ['rm', '/made/piped.txt', '/not-there.txt'], data: 'eachPath', ok: false, exit: 8 },
    { args: ['rm', '/made'], data: 'eachPath', ok: false, exit: 1 },
    { args: ['config'], data: 'config', ok: true, exit: 0 },
    { args: ['-s', `127.0.0.1:${server.port}`, '-u', 'admin', 'config', 'add', 'here'], data: 'configAdd', ok: true, exit: 0 },
    { args: ['config', 'remove', 'here'], data: 'configRemove', ok: true, exit: 0 },
    { args: ['config', 'remove', 'here'], ok: false, exit: 4 },
    { args: ['completion', 'bash'], data: 'completion', ok: true, exit: 0 },
    { args: ['completion', 'tcsh'], ok: false, exit: 2 },
    { args: ['discover', '--timeout', '0.2'], data: 'discover', ok: false, exit: 4 },
    { args: ['doctor'], data: 'doctor', ok: true, exit: 0 },
    // The environment pins the server's fingerprint, as --fingerprint does.
    { args: ['trust'], data: 'trust', ok: true, exit: 0 },
    { args: ['--no-tls', 'trust'], ok: false, exit: 2 },
    { args: ['no-such-command'], ok: false, exit: 2 },
    { args: ['-s', '127.0.0.1:1', 'ls'], ok: false, exit: 5 },
  ];
  const seen = new Set<string>();
  for (const { args, data, ok, exit, stream = 'stdout', input } of cases) {
    const label = args.join(' ');
    const result = await ferry(['--json', '--retries', '0', ...args], { env, ...(input !== undefined ? { input } : {}) });
    t.is(result.code, exit, `${label}: ${result.stderr}`);
    let envelope: Record<string, unknown>;
    try {
      envelope = envelopeOf(result, stream);
    } catch {
      t.fail(`${label}: not one JSON document on ${stream}: ${stream === 'stdout' ? result.stdout : result.stderr}`);
      continue;
    }
    t.deepEqual(validate(envelope, schema, schema), [], label);
    t.is(envelope.ok, ok, label);
    if (data !== undefined) {
      t.deepEqual(validate(envelope.data, { $ref: `#/$defs/${data}` }, schema), [], `${label}: data is ${data}`);
      seen.add(data);
    }
    if (!ok) t.is(typeof (envelope.error as { message?: unknown }).message, 'string', label);
    if (exit === 8) t.is((envelope.error as { code: string }).code, 'PARTIAL', label);
  }
  const documented = Object.keys(schema.$defs as object).filter((name) => !['error', 'entry', 'profile'].includes(name));
  t.deepEqual([...seen].sort(), documented.sort(), 'every documented data shape was exercised');
});
