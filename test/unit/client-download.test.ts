import test from 'ava';
import { Writable } from 'node:stream';
import { announceClientDownload, loadClientDownload, type ClientDownload } from '../../src/ops/client-download.js';
import { createLogger } from '../../src/log/logger.js';

function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(text) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('info', 'json', sink), lines };
}

const download: ClientDownload = { path: '/client/ferry.mjs', body: Buffer.from('x'), sha256: 'ab'.repeat(32) };

test('an ops port on every interface is offered at each LAN address, with the digest in the line', (t) => {
  const { logger, lines } = capturingLogger();
  announceClientDownload(logger, download, { address: '0.0.0.0', family: 'IPv4', port: 8081 }, ['192.168.1.5', '10.0.0.7']);
  t.deepEqual(lines[0]?.urls, ['http://192.168.1.5:8081/client/ferry.mjs', 'http://10.0.0.7:8081/client/ferry.mjs']);
  t.regex(String(lines[0]?.msg), new RegExp(`SHA-256 ${download.sha256}`));
});

test('an ops port on one address is offered at that address, an IPv6 one in brackets', (t) => {
  const { logger, lines } = capturingLogger();
  announceClientDownload(logger, download, { address: '127.0.0.1', family: 'IPv4', port: 9000 }, ['192.168.1.5']);
  announceClientDownload(logger, download, { address: 'fe80::1', family: 'IPv6', port: 9000 }, []);
  announceClientDownload(logger, download, { address: '::', family: 'IPv6', port: 9000 }, []);
  t.deepEqual(lines.map((line) => line.urls), [['http://127.0.0.1:9000/client/ferry.mjs'], ['http://[fe80::1]:9000/client/ferry.mjs'], ['http://[::]:9000/client/ferry.mjs']]);
});

test('a build without the single-file client offers nothing and says how to make it', async (t) => {
  const { logger, lines } = capturingLogger();
  t.is(await loadClientDownload(logger, '/nonexistent/ferry.mjs'), undefined);
  t.is(lines[0]?.event, 'client-download-missing');
  t.regex(String(lines[0]?.msg), /npm run build makes it/);
});
