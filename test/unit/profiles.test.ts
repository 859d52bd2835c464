import test from 'ava';
import { FerryError } from '../../src/protocol/errors.js';
import { clientConfigFile, parseClientConfig, profileOptions } from '../../src/cli/profiles.js';

test("the client config file lives in the platform's folder for settings", (t) => {
  t.is(clientConfigFile({ XDG_CONFIG_HOME: '/x/conf' }, 'linux', '/home/ann'), '/x/conf/ferry/config.json');
  t.is(clientConfigFile({}, 'linux', '/home/ann'), '/home/ann/.config/ferry/config.json');
  t.is(clientConfigFile({ XDG_CONFIG_HOME: 'relative' }, 'freebsd', '/home/ann'), '/home/ann/.config/ferry/config.json', 'a relative XDG_CONFIG_HOME is ignored, as the spec says');
  t.is(clientConfigFile({}, 'darwin', '/Users/ann'), '/Users/ann/Library/Application Support/ferry/config.json');
  t.is(clientConfigFile({ APPDATA: 'C:\\Users\\ann\\AppData\\Roaming' }, 'win32', 'C:\\Users\\ann'), 'C:\\Users\\ann\\AppData\\Roaming\\ferry\\config.json');
});

test('a profile becomes the option values it stands for', (t) => {
  t.deepEqual(profileOptions({ host: 'nas.local', port: 9000, user: 'ann', tls: false }), { server: 'nas.local:9000', user: 'ann', tls: false });
  t.deepEqual(profileOptions({ host: 'fe80::1', port: 8080, fingerprint: 'SHA256:abc' }), { server: '[fe80::1]:8080', fingerprint: 'SHA256:abc' });
  t.deepEqual(profileOptions({ host: 'nas' }), { server: 'nas' });
});

test('a config file with a wrong field is refused with a message naming the file, the profile and the field', (t) => {
  const refused = (text: string, message: RegExp): void => {
    const error = t.throws(() => parseClientConfig(text, '/c/config.json'), { instanceOf: FerryError });
    t.is(error?.code, 'USAGE');
    t.regex(error?.message ?? '', message);
  };
  refused('{', /\/c\/config\.json is not valid JSON/);
  refused('[]', /must hold a JSON object/);
  refused('{"server": {}}', /"server" is not a setting of the ferry client; it knows "servers"/);
  refused('{"servers": {"nas": {"host": "a", "prot": 1}}}', /servers\.nas\.prot is not a profile field/);
  refused('{"servers": {"nas": {"host": "a", "port": 70000}}}', /servers\.nas\.port must be a port from 1 to 65535/);
  refused('{"servers": {"nas": {"user": "ann"}}}', /servers\.nas has no "host"/);
  refused('{"servers": {"nas": {"host": "a", "tls": "no"}}}', /servers\.nas\.tls must be true or false/);
  t.deepEqual(parseClientConfig('{}', 'f'), { servers: {} });
});
