import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { spawnServer } from '../helpers/server.js';
import { eventually, withTools } from '../helpers/tools.js';

const CAPTURE_START_MS = 20_000;
const PCAP_HEADER_BYTES = 24;

/** Captures loopback traffic on `port` while `work` runs; returns the raw capture file. */
async function capture(t: ExecutionContext, port: number, work: () => Promise<void>): Promise<Buffer> {
  const file = join(await tempDir(t, 'ferry-capture-'), 'lo.pcap');
  const tcpdump = spawn('tcpdump', ['-i', 'lo', '-U', '--immediate-mode', '-n', '-w', file, `tcp port ${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = once(tcpdump, 'exit');
  t.teardown(() => void tcpdump.kill('SIGKILL'));
  let said = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start capturing: ${said}`)), CAPTURE_START_MS);
    tcpdump.stderr.on('data', (chunk: Buffer) => {
      said += chunk.toString();
      if (said.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    tcpdump.once('exit', (code) => reject(new Error(`tcpdump exited with ${code}: ${said}`)));
  });
  await work();
  // Packets reach the file just after the session ends: stop once it stops growing.
  let size = -1;
  await eventually(async () => {
    const now = (await stat(file)).size;
    const settled = now === size && now > PCAP_HEADER_BYTES;
    size = now;
    return settled ? true : undefined;
  }, CAPTURE_START_MS, 250);
  tcpdump.kill('SIGINT');
  await exited;
  return readFile(file);
}

/** A login, an upload and a download of a file holding `marker`, as a user would type them. */
async function session(t: ExecutionContext, env: Record<string, string>, args: string[], marker: string): Promise<void> {
  const local = await tempDir(t);
  await writeFile(join(local, 'letter.txt'), `${randomBytes(512).toString('base64')}\n${marker}\n${randomBytes(512).toString('base64')}\n`);
  const up = await ferry([...args, 'upload', join(local, 'letter.txt')], { env });
  t.is(up.code, 0, up.stderr);
  const back = await tempDir(t);
  const down = await ferry([...args, 'download', '/letter.txt', '-d', back], { env });
  t.is(down.code, 0, down.stderr);
  t.true((await readFile(join(back, 'letter.txt'), 'utf8')).includes(marker), 'the file came back whole');
}

for (const mode of ['default', 'plain'] as const) {
  const title =
    mode === 'default'
      ? 'a packet capture of a default login, upload and download shows neither the password nor the file contents'
      : 'control: the same capture with TLS switched off shows both the password and the file contents';
  withTools('tcpdump').serial(title, async (t) => {
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const marker = `MARKER-${randomBytes(12).toString('hex')}`;
    const server = await spawnServer(t, { FERRY_DATA_DIR: await tempDir(t), FERRY_ADMIN_PASSWORD: password, ...(mode === 'plain' ? { FERRY_TLS: 'false' } : {}) });
    const env = { ...server.env, FERRY_USER: 'admin', FERRY_PASSWORD: password };
    const pcap = await capture(t, server.port, () => session(t, env, mode === 'plain' ? ['--no-tls'] : [], marker));
    // Two copies of the 1.4 kB letter at least, whatever the framing.
    t.true(pcap.length > 2800, `the capture holds the session (${pcap.length} bytes)`);
    t.is(pcap.includes(password), mode === 'plain', 'the password');
    t.is(pcap.includes(marker), mode === 'plain', 'the marker inside the file');
    server.child.kill('SIGTERM');
    t.is(await server.exited, 0);
  });
}
