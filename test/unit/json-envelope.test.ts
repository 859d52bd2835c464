import test from 'ava';
import { JsonEnvelope } from '../../src/cli/json-envelope.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { ferryError } from '../../src/protocol/errors.js';

test('a command that worked gets {ok: true, data}, with data null when it had none', (t) => {
  const envelope = new JsonEnvelope();
  t.deepEqual(envelope.build(ExitCode.OK), { ok: true, data: null });
  envelope.setData([{ name: 'a' }]);
  t.deepEqual(envelope.build(ExitCode.OK), { ok: true, data: [{ name: 'a' }] });
});

test('a thrown FerryError becomes the error; anything else is INTERNAL with its message', (t) => {
  const envelope = new JsonEnvelope();
  t.deepEqual(envelope.build(ExitCode.NOT_FOUND, ferryError('NOT_FOUND', '/x does not exist')), { ok: false, error: { code: 'NOT_FOUND', message: '/x does not exist' } });
  t.deepEqual(envelope.build(ExitCode.OTHER, new Error('boom')), { ok: false, error: { code: 'INTERNAL', message: 'boom' } });
});

test('exit code 8 is PARTIAL, counting the failures and keeping the per-file data', (t) => {
  const envelope = new JsonEnvelope();
  envelope.setData({ files: [1, 2, 3] });
  envelope.failed({ code: 'NOT_FOUND', message: 'b.txt does not exist' });
  envelope.failed({ code: 'EXISTS', message: 'c.txt already exists' });
  t.deepEqual(envelope.build(ExitCode.PARTIAL), {
    ok: false,
    error: { code: 'PARTIAL', message: '2 items failed, the first: b.txt does not exist; the others succeeded' },
    data: { files: [1, 2, 3] },
  });
});

test('a failure reported without ending names the error of its exit code, or the first failure, or the exit code itself', (t) => {
  const envelope = new JsonEnvelope();
  envelope.failed({ code: 'EXISTS', message: 'a exists' });
  envelope.failed({ code: 'PERMISSION_DENIED', message: 'b denied' });
  t.deepEqual(envelope.build(ExitCode.DENIED), { ok: false, error: { code: 'PERMISSION_DENIED', message: 'b denied' } });
  const textOnly = new JsonEnvelope();
  textOnly.failed({ message: 'no server answered' });
  t.deepEqual(textOnly.build(ExitCode.NOT_FOUND), { ok: false, error: { code: 'NOT_FOUND', message: 'no server answered' } });
  t.deepEqual(new JsonEnvelope().build(ExitCode.CONNECTION), { ok: false, error: { code: 'CONNECTION_LOST', message: 'the command failed with exit code 5' } });
});
