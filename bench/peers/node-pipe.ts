/**
 * The minimal Node TCP pipe (node-pipe-endpoint.ts at both ends): what Node costs by
 * itself, with no protocol, no hashing and no fsync. The server end listens and the
 * client end connects, in the direction of the workload.
 */

import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { NODE_PIPE_BIN } from '../lib/paths.js';
import { finish, freePort, start, waitListening, type Started } from '../lib/processes.js';
import { cpuOf, isFolder, linkTree, type Peer, type Transfer } from './peer.js';
import { BASELINE_LABELS } from '../lib/options.js';

export class NodePipePeer implements Peer {
  readonly key = 'node';
  readonly label = BASELINE_LABELS.node;
  private readonly servers = new Set<Started>();

  private constructor(
    private readonly root: string,
    private readonly timeoutMs: number,
  ) {}

  static async start(workDir: string, timeoutMs: number): Promise<NodePipePeer> {
    const root = join(workDir, 'root');
    await mkdir(join(root, 'stage'), { recursive: true });
    return new NodePipePeer(root, timeoutMs);
  }

  /** The path a receiving end is given: a folder (framed files) ends in /. */
  private static receivingPath(source: string, destDir: string, folder: boolean): string {
    return folder ? `${destDir}/` : join(destDir, basename(source));
  }

  private async pipe(serverDirection: 'send' | 'recv', serverPath: string, clientPath: string): Promise<Transfer> {
    const port = await freePort();
    const server = start(process.execPath, [NODE_PIPE_BIN, 'listen', serverDirection, String(port), serverPath], { cpu: true });
    this.servers.add(server);
    await waitListening(port, server);
    const clientDirection = serverDirection === 'send' ? 'recv' : 'send';
    return {
      go: async () => {
        try {
          const client = start(process.execPath, [NODE_PIPE_BIN, 'connect', clientDirection, String(port), clientPath], { cpu: true });
          const [clientEnd, serverEnd] = await Promise.all([finish(client, this.timeoutMs), finish(server, this.timeoutMs)]);
          return { client: cpuOf(clientEnd), server: cpuOf(serverEnd) };
        } finally {
          this.servers.delete(server);
          if (server.running) await server.stop();
        }
      },
    };
  }

  uploadedTo(tag: string): string {
    return join(this.root, tag);
  }

  async prepareUpload(local: string, tag: string): Promise<Transfer> {
    const dir = this.uploadedTo(tag);
    await mkdir(dir, { recursive: true });
    return this.pipe('recv', NodePipePeer.receivingPath(local, dir, await isFolder(local)), local);
  }

  async stage(local: string): Promise<void> {
    await linkTree(local, join(this.root, 'stage', basename(local)));
  }

  async prepareDownload(name: string, destDir: string): Promise<Transfer> {
    const source = join(this.root, 'stage', name);
    return this.pipe('send', source, NodePipePeer.receivingPath(source, destDir, await isFolder(source)));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.servers].map((server) => server.stop()));
  }
}
