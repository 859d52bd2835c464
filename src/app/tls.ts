/** The TLS certificate and key the service serves with, made on first start when none is configured. */

import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { settingAssignment, settingName } from '../config/schema.js';
import { exists } from '../io/exists.js';
import { DEFAULT_CERTIFICATE_DAYS, certificateFiles } from '../ops/certificate-files.js';
import { ferryError } from '../protocol/errors.js';
import { certificateFingerprint } from '../protocol/fingerprint.js';
import type { TlsMaterial } from '../server/server.js';

export type ServiceTls = TlsMaterial & { fingerprint: string };

/**
 * The TLS certificate and key the service uses, or undefined when TLS is off.
 * Without configured files it uses the pair in `<dataDir>/tls`, making one when
 * `create` allows (the one process that starts first; cluster workers only load).
 */
export async function loadTls(config: Config, logger: Logger, options: { create: boolean }): Promise<ServiceTls | undefined> {
  if (!config.get('tls.enabled')) return undefined;
  let certFile = config.get('tls.cert');
  let keyFile = config.get('tls.key');
  if (!certFile !== !keyFile) throw ferryError('CONFIG', `TLS needs both ${settingName('tls.cert')} and ${settingName('tls.key')}, or neither (then the server makes its own in the data folder)`);
  if (!certFile) {
    const dir = resolve(config.get('dataDir'), 'tls');
    ({ certFile, keyFile } = certificateFiles(dir));
    if (options.create && !(await exists(certFile))) {
      const { writeSelfSignedCertificate } = await import('../ops/certificate.js');
      const made = await writeSelfSignedCertificate(dir, DEFAULT_CERTIFICATE_DAYS);
      logger.info(
        { event: 'tls-certificate-created', certFile, fingerprint: made.fingerprint },
        `made a self-signed TLS certificate ${certFile} with fingerprint ${made.fingerprint}; clients are shown it on first connection`,
      );
    }
  }
  try {
    const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
    return { cert, key, fingerprint: certificateFingerprint(new X509Certificate(cert)) };
  } catch (error) {
    throw ferryError('CONFIG', `cannot load the TLS certificate or key: ${(error as Error).message} (make a pair with: ferry-server tls init; or set ${settingAssignment('tls.enabled', 'false')} for plain TCP)`, error);
  }
}
