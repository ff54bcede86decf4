import test from 'ava';
import { ConfigFileError, parseConfigText } from '../../lib/config-file';

test('key = value lines, with comments, blank lines and spacing as people write them', (t) => {
  const text = '# mychatd settings\n\n  port=7000\nmax-clients   =   20000  \n\t# indented comment\nlog-level = warn\n';
  t.deepEqual(parseConfigText(text, 'a.conf'), [
    { key: 'port', value: '7000', line: 3 },
    { key: 'max-clients', value: '20000', line: 4 },
    { key: 'log-level', value: 'warn', line: 6 },
  ]);
});

test('a # inside a value is kept, so a MOTD may contain one; quotes keep outer spaces', (t) => {
  t.deepEqual(parseConfigText('motd = Join #lobby # or #dev\nmotd-file = "  spaced name  "\n', 'a.conf'), [
    { key: 'motd', value: 'Join #lobby # or #dev', line: 1 },
    { key: 'motd-file', value: '  spaced name  ', line: 2 },
  ]);
});

test('files saved with Windows line endings or a byte-order mark read the same', (t) => {
  t.deepEqual(parseConfigText('\uFEFFport = 1\r\nmotd = hi\r\n', 'a.conf'), [
    { key: 'port', value: '1', line: 1 },
    { key: 'motd', value: 'hi', line: 2 },
  ]);
});

test('an empty value is allowed (it unsets a string option); a line without a key is an error naming file and line', (t) => {
  t.deepEqual(parseConfigText('motd =\n', 'a.conf'), [{ key: 'motd', value: '', line: 1 }]);
  for (const [text, line] of [
    ['port 7000\n', 1],
    ['\n= 3\n', 2],
    ['Port = 1\n', 1],
    ['--port = 1\n', 1],
  ] as const) {
    const error = t.throws(() => parseConfigText(text, '/etc/mychat/mychatd.conf'), { instanceOf: ConfigFileError });
    t.true(error.message.startsWith(`/etc/mychat/mychatd.conf:${line}: expected "key = value"`), error.message);
  }
});
