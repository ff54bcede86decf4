import test from 'ava';
import { takeListenFds, takeNamedListenFds } from '../../daemon/systemd';

test('passed sockets keep their LISTEN_FDNAMES names, so a socket named "tls" can be told from the plain ones', (t) => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: String(process.pid), LISTEN_FDS: '3', LISTEN_FDNAMES: 'mychatd.socket:tls' };
  t.deepEqual(takeNamedListenFds(env), [
    { fd: 3, name: 'mychatd.socket' },
    { fd: 4, name: 'tls' },
    { fd: 5, name: undefined },
  ]);
  t.deepEqual(env, {}, 'the variables are removed so no child inherits them');
});

test('sockets meant for another process are not taken, and the plain list still works', (t) => {
  t.deepEqual(takeNamedListenFds({ LISTEN_PID: '1', LISTEN_FDS: '1', LISTEN_FDNAMES: 'tls' }), []);
  t.deepEqual(takeListenFds({ LISTEN_PID: String(process.pid), LISTEN_FDS: '2' }), [3, 4]);
});
