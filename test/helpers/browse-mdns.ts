/**
 * A stand-alone mDNS browser, run as a child process in a test's network
 * namespace: `node browse-mdns.js TYPE MS` browses `_TYPE._tcp` for MS
 * milliseconds and prints what answered as one JSON array (name, port, addresses,
 * TXT), as a phone's service browser would see it.
 */

import { Bonjour } from 'bonjour-service';

const [type, ms] = process.argv.slice(2);
const bonjour = new Bonjour();
const found: { name: string; port: number; addresses: string[]; txt: unknown }[] = [];
const browser = bonjour.find({ type: String(type) }, (service) => {
  found.push({ name: service.name, port: service.port, addresses: service.addresses ?? [], txt: service.txt });
});
setTimeout(() => {
  browser.stop();
  bonjour.destroy(() => {
    process.stdout.write(`${JSON.stringify(found)}\n`);
    process.exit(0);
  });
}, Number(ms));
