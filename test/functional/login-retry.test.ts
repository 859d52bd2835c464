/**
 * The first login of a command meets the same retries as every later one: a
 * server that answers it BUSY or STORAGE_UNAVAILABLE (its primary restarting) is
 * tried again on a fresh connection rather than failing the command.
 */

import test from 'ava';
import { Connection } from '../../src/cli/connect.js';
import { ferryError, type ErrorCode } from '../../src/protocol/errors.js';
import { ADMIN, startServer } from '../helpers/server.js';
import { freshKnownHostsFile } from '../helpers/tls.js';

// Connection.open pins through the default known-hosts file: keep it out of the user's.
process.env.FERRY_KNOWN_HOSTS = freshKnownHostsFile();

for (const code of ['BUSY', 'STORAGE_UNAVAILABLE'] as ErrorCode[]) {
  test(`a ${code} answer to the first login is retried on a new connection`, async (t) => {
    const server = await startServer(t);
    const authenticate = server.users.authenticate.bind(server.users);
    let attempts = 0;
    server.users.authenticate = async (name, password) => {
      if (attempts++ === 0) throw ferryError(code, 'the server is restarting; try again shortly');
      return authenticate(name, password);
    };
    const connection = await Connection.open({
      server: `127.0.0.1:${server.port}`,
      user: ADMIN.user,
      passwordCommand: `echo ${ADMIN.password}`,
      fingerprint: server.fingerprint ?? '',
      retries: 3,
    });
    t.teardown(() => connection.close());
    t.is(connection.login.user, ADMIN.user);
    t.is(attempts, 2, 'refused once, then logged in on a new connection');
  });
}
