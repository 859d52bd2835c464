/**
 * The web client seen from another device on the LAN (two network namespaces):
 * mDNS announces it as `_https._tcp` with the certificate fingerprint, the file
 * service's own record points at it, and the page answers at the announced
 * address with the certificate the start-up lines name.
 */

import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { twoDevices } from '../helpers/netns.js';
import { spawnServer } from '../helpers/server.js';
import { withTools } from '../helpers/tools.js';

interface Announced {
  name: string;
  port: number;
  addresses: string[];
  txt: Record<string, string>;
}

withTools('ip', 'curl', 'openssl').serial('another device finds the web client over mDNS and opens the page at the announced address', async (t) => {
  const lan = await twoDevices(t);
  const dataDir = await tempDir(t, 'ferry-web-lan-');
  const server = await spawnServer(
    t,
    { FERRY_HOST: '0.0.0.0', FERRY_PORT: '8080', FERRY_WEB_HOST: '0.0.0.0', FERRY_WEB_PORT: '8443', FERRY_MDNS: 'true', FERRY_DATA_DIR: dataDir, FERRY_ADMIN_PASSWORD: 'lan-password' },
    [],
    lan.server.ns,
  );
  const address = await server.waitForLog((line) => line.event === 'web-address');
  t.is(address.url, `https://${lan.server.ip}:8443/`);
  await server.waitForLog((line) => line.event === 'mdns' && line.port === 8443);

  const browse = async (type: string): Promise<Announced[]> => {
    const { stdout } = await lan.exec(lan.client.ns, process.execPath, [join(REPO_ROOT, 'dist', 'test', 'helpers', 'browse-mdns.js'), type, '4000']);
    return JSON.parse(stdout) as Announced[];
  };
  const web = (await browse('https')).find((service) => service.port === 8443);
  t.truthy(web, 'the web client is announced as _https._tcp');
  t.true(web?.addresses.includes(lan.server.ip));
  t.is(web?.txt.fp, server.fingerprint);
  const ferry = (await browse('ferry')).find((service) => service.port === 8080);
  t.is(ferry?.txt.web, '8443', 'the file service record names the web port');

  const { stdout: page } = await lan.exec(lan.client.ns, 'curl', ['-sS', '-k', `https://${lan.server.ip}:8443/`]);
  t.regex(page, /<title>Ferry<\/title>/);
  const { stdout: certificate } = await lan.exec(lan.client.ns, 'sh', ['-c', `echo | openssl s_client -connect ${lan.server.ip}:8443 2>/dev/null | openssl x509 -noout -fingerprint -sha256`]);
  const printed = /([0-9A-F]{2}(:[0-9A-F]{2}){31})/.exec(String(address.msg))?.[1];
  t.truthy(printed);
  t.is(certificate.trim().split('=')[1] ?? '', printed ?? 'none', 'the page is served with the certificate whose fingerprint the start-up line gives');
});
