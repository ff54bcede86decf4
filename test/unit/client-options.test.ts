import test from 'ava';
import { checkRooms, displayAddress, parseAddress, parseClientOptions, UsageError } from '../../lib/client/options';

function parse(argv: string[], env: NodeJS.ProcessEnv = {}) {
  return parseClientOptions(argv, env, '9.9.9');
}

test('the server address defaults to localhost 7777', (t) => {
  t.deepEqual(parseAddress([], {}), { host: 'localhost', port: 7777 });
});

test('the address can be HOST, HOST PORT, HOST:PORT, [IPv6]:PORT, [IPv6] or a bare IPv6 address', (t) => {
  t.deepEqual(parseAddress(['chat.example.org'], {}), { host: 'chat.example.org', port: 7777 });
  t.deepEqual(parseAddress(['chat.example.org', '7000'], {}), { host: 'chat.example.org', port: 7000 });
  t.deepEqual(parseAddress(['10.0.0.5:7001'], {}), { host: '10.0.0.5', port: 7001 });
  t.deepEqual(parseAddress(['[::1]:7002'], {}), { host: '::1', port: 7002 });
  t.deepEqual(parseAddress(['[::1]'], {}), { host: '::1', port: 7777 });
  t.deepEqual(parseAddress(['[fe80::1]', '7003'], {}), { host: 'fe80::1', port: 7003 });
  t.deepEqual(parseAddress(['fe80::1'], {}), { host: 'fe80::1', port: 7777 });
});

test('MYCHAT_HOST and MYCHAT_PORT fill in what the command line leaves out', (t) => {
  const env = { MYCHAT_HOST: 'envhost', MYCHAT_PORT: '7100' };
  t.deepEqual(parseAddress([], env), { host: 'envhost', port: 7100 });
  t.deepEqual(parseAddress(['cli'], env), { host: 'cli', port: 7100 });
  t.deepEqual(parseAddress(['cli:7200'], env), { host: 'cli', port: 7200 });
  t.deepEqual(parseAddress([], { MYCHAT_HOST: '', MYCHAT_PORT: '' }), { host: 'localhost', port: 7777 }, 'empty means unset');
});

test('bad addresses are usage errors that say what is wrong', (t) => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['host', 'seven'], {}, /PORT must be a port number/],
    [['host', '0'], {}, /from 1 to 65535/],
    [['host', '70000'], {}, /from 1 to 65535/],
    [['host:7000', '7001'], {}, /port is given twice/],
    [[':7000'], {}, /HOST is missing/],
    [['7777'], {}, /looks like a port/],
    [['a', 'b', 'c'], {}, /too many arguments/],
    [[], { MYCHAT_PORT: 'x' }, /MYCHAT_PORT must be a port number/],
  ];
  for (const [args, env, message] of cases) {
    const error = t.throws(() => parseAddress(args, env), { instanceOf: UsageError }, args.join(' '));
    t.regex(error!.message, message);
  }
});

test('--nick and --join are checked by the server\'s own rules before connecting', (t) => {
  t.is(parse(['--nick', 'alice']).nick, 'alice');
  t.is(parse(['-n', 'Zoe\u0308']).nick, 'Zoë', 'normalised to NFC like the server does');
  t.regex(t.throws(() => parse(['--nick', '1abc']), { instanceOf: UsageError })!.message, /starts with a letter/);
  t.regex(t.throws(() => parse(['--nick', 'x'.repeat(25)]), { instanceOf: UsageError })!.message, /at most 24/);
  t.regex(t.throws(() => parse(['--nick', '']), { instanceOf: UsageError })!.message, /needs a nickname/);
  t.regex(t.throws(() => parse(['--join', '#bad room']), { instanceOf: UsageError })!.message, /invalid room/);
  t.regex(t.throws(() => parse(['--nick', '\u0430lice']), { instanceOf: UsageError })!.message, /cannot mix scripts/, 'Latin with a Cyrillic а');
  t.regex(t.throws(() => parse(['--nick', 'bob\u034f']), { instanceOf: UsageError })!.message, /invisible characters \(it has U\+034F\)/);
  t.regex(t.throws(() => parse(['--join', 'lobby\u3164']), { instanceOf: UsageError })!.message, /invalid room .*invisible/);
});

test('--join repeats, takes comma lists, and adds the # a shell would have eaten', (t) => {
  t.deepEqual(parse(['--join', '#ops', '--join', 'dev', 'host', '7000']).rooms, ['#ops', '#dev']);
  t.deepEqual(checkRooms(['#a,#b', 'c', '#A']), ['#a', '#b', '#c'], 'duplicates (ignoring case) go');
  const options = parse(['-j', 'ops', 'chat.example.org:7100']);
  t.is(options.host, 'chat.example.org', 'the host after --join is not taken for a room');
  t.is(options.port, 7100);
});

test('MYCHAT_NICK is the default nickname; --nick wins over it', (t) => {
  t.is(parse([], { MYCHAT_NICK: 'envnick' }).nick, 'envnick');
  t.is(parse(['--nick', 'cli'], { MYCHAT_NICK: 'envnick' }).nick, 'cli');
  t.is(parse([], {}).nick, '');
  t.regex(t.throws(() => parse([], { MYCHAT_NICK: '-bad' }), { instanceOf: UsageError })!.message, /invalid nickname/);
});

test('unknown options are usage errors', (t) => {
  t.regex(t.throws(() => parse(['--colour']), { instanceOf: UsageError })!.message, /Unknown argument/i);
});

test('--listen is off unless asked for', (t) => {
  t.false(parse([]).listen);
  t.true(parse(['--listen']).listen);
});

test('addresses are shown the way they are typed, IPv6 in brackets', (t) => {
  t.is(displayAddress('chat.example.org', 7777), 'chat.example.org:7777');
  t.is(displayAddress('::1', 7000), '[::1]:7000');
});

test('--tls defaults to port 7778 and verifies against the system CAs; a given port or MYCHAT_PORT still wins', (t) => {
  t.like(parse(['--tls', 'chat.example.org']), { host: 'chat.example.org', port: 7778, tls: { ca: undefined, insecure: false } });
  t.like(parse(['--tls', 'chat.example.org:7000']), { port: 7000 });
  t.like(parse(['--tls', 'chat.example.org'], { MYCHAT_PORT: '7100' }), { port: 7100 });
  t.like(parse(['--tls', '--insecure', 'chat.example.org']), { tls: { insecure: true } });
  t.is(parse(['chat.example.org']).tls, undefined, 'plain TCP without --tls');
  t.like(parse(['chat.example.org']), { port: 7777 });
  t.throws(() => parse(['--tls', '--insecure', '--ca', __filename, 'chat.example.org']), { instanceOf: UsageError, message: /contradict/ });
  t.deepEqual(parse(['--tls', '--ca', __filename, 'chat.example.org']).tls?.ca?.subarray(0, 6).toString(), 'import');
});

test('--bell is on unless --bell off (or MYCHAT_BELL=off); anything else is a usage error', (t) => {
  t.true(parse([]).bell);
  t.false(parse(['--bell', 'off']).bell);
  t.false(parse([], { MYCHAT_BELL: 'off' }).bell);
  t.true(parse(['--bell=on'], { MYCHAT_BELL: 'off' }).bell, 'the command line wins');
  t.false(parse(['--bell', 'on', '--bell', 'OFF']).bell, 'the last one wins');
  t.throws(() => parse(['--bell', 'loud']), { instanceOf: UsageError, message: /--bell must be on or off/ });
});
