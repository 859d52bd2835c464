/**
 * Runs s3rver (an S3-compatible server from npm) on 127.0.0.1 and an ephemeral
 * port, in a process of its own, and prints {"port": N} once it listens.
 * Usage: node s3rver-main.js <directory> <bucket>...
 */

import S3rver from 's3rver';

const [directory, ...buckets] = process.argv.slice(2);
if (directory === undefined) throw new Error('usage: s3rver-main <directory> <bucket>...');
const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, configureBuckets: buckets.map((name) => ({ name })) });
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
