import test from 'ava';
import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';
import { auditChange } from '../../src/server/audit.js';
import type { Request } from '../../src/protocol/messages.js';

/** A logger whose lines land in the returned array, parsed. */
function capture(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino(sink), lines };
}

const actor = { user: 'ann', remote: '127.0.0.1:5000' };

test('every change to the tree is audited, file times (touch) included', (t) => {
  const { logger, lines } = capture();
  const changes: Request[] = [
    { op: 'delete', path: '/a', recursive: false },
    { op: 'rename', from: '/a', to: '/b', noClobber: true },
    { op: 'mkdir', path: '/d' },
    { op: 'touch', path: '/d', mtime: 1732440000000 },
  ];
  for (const request of changes) auditChange(logger, actor, request);
  auditChange(logger, actor, { op: 'touch', path: '/gone', mtime: 0 }, 'NOT_FOUND');
  t.deepEqual(
    lines.map((line) => line.event),
    ['delete', 'rename', 'mkdir', 'touch', 'touch'],
  );
  t.like(lines[3], { audit: true, user: 'ann', remote: '127.0.0.1:5000', path: '/d', mtime: 1732440000000, result: 'ok' });
  t.like(lines[4], { audit: true, path: '/gone', result: 'error', code: 'NOT_FOUND' });
});

test('reads are not audited', (t) => {
  const { logger, lines } = capture();
  auditChange(logger, actor, { op: 'list', path: '/', recursive: false });
  t.is(lines.length, 0);
});
