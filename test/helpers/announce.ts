/**
 * A stand-alone mDNS announcement of a Ferry service, run as a child process in a
 * test's network namespace: `node announce.js PORT [FINGERPRINT]` announces what
 * the real server would (no fingerprint: a record saying "no TLS"), prints
 * "announced", and withdraws it on SIGTERM. Lets a test play the attacker who
 * answers mDNS with a record of their own.
 */

import { announceService } from '../../src/lan/mdns.js';

const [port, fingerprint] = process.argv.slice(2);
const announcement = announceService(Number(port), fingerprint || undefined);
process.stdout.write('announced\n');
process.once('SIGTERM', () => {
  void announcement.stop().then(() => process.exit(0));
});
