import test from 'ava';
import { addressPrefix } from '../../lib/core/address-prefix';

test('IPv4 addresses are exact by default and cut to a /24 when asked', (t) => {
  t.is(addressPrefix('192.0.2.17'), '192.0.2.17');
  t.is(addressPrefix('192.0.2.17', 24), '192.0.2.0/24');
  t.is(addressPrefix('192.0.2.200', 24), addressPrefix('192.0.2.1', 24));
  t.not(addressPrefix('192.0.3.1', 24), addressPrefix('192.0.2.1', 24));
});

test('IPv4-mapped IPv6 addresses count as IPv4', (t) => {
  t.is(addressPrefix('::ffff:127.0.0.1'), '127.0.0.1');
  t.is(addressPrefix('::FFFF:10.1.2.3', 24), '10.1.2.0/24');
});

test('IPv6 addresses of one /64 share a key, whatever their spelling', (t) => {
  const a = addressPrefix('2001:db8:1:2::1');
  t.is(a, addressPrefix('2001:0db8:0001:0002:ffff:ffff:ffff:fffe'));
  t.is(a, '2001:db8:1:2:0:0:0:0/64');
  t.not(a, addressPrefix('2001:db8:1:3::1'));
  t.is(addressPrefix('::1'), '0:0:0:0:0:0:0:0/64');
  t.is(addressPrefix('fe80::1%eth0'), addressPrefix('fe80::2'));
});

test('an unparsable address is its own key', (t) => {
  t.is(addressPrefix('unknown'), 'unknown');
});
