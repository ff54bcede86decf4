import test from 'ava';
import { looksLikeHttpRequest, looksLikeTlsHandshake } from '../../lib/transport/tcp/sniff';

test('a TLS ClientHello record prefix is detected', (t) => {
  // Record type 0x16 (handshake), version 3.1, length, then ClientHello (0x01).
  t.true(looksLikeTlsHandshake(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])));
  t.true(looksLikeTlsHandshake(Buffer.from([0x16, 0x03])));
  t.true(looksLikeTlsHandshake(new Uint8Array([0x16, 0x03, 0x03, 0x00, 0x40])));
});

test('chat input is not mistaken for TLS', (t) => {
  t.false(looksLikeTlsHandshake(Buffer.from('Alice\r\n')));
  t.false(looksLikeTlsHandshake(Buffer.from('/join #x\n')));
  t.false(looksLikeTlsHandshake(Buffer.from([0x16])));
  t.false(looksLikeTlsHandshake(Buffer.from([0x16, 0x41, 0x0a]))); // Ctrl-V then text
  t.false(looksLikeTlsHandshake(Buffer.from([0x15, 0x03, 0x01]))); // a TLS alert record is not a hello
  t.false(looksLikeTlsHandshake(Buffer.alloc(0)));
  t.false(looksLikeTlsHandshake(Buffer.from([0xff, 0xfd, 0x03]))); // telnet IAC DO SUPPRESS-GO-AHEAD
});

test('HTTP request lines are detected', (t) => {
  for (const line of [
    'GET / HTTP/1.1',
    'GET /index.html HTTP/1.0',
    'POST /api/login HTTP/1.1',
    'HEAD / HTTP/1.1 ',
    'OPTIONS * HTTP/1.1',
    'CONNECT example.com:443 HTTP/1.1',
    'PRI * HTTP/2.0',
    'GET / HTTP/2',
  ]) {
    t.true(looksLikeHttpRequest(line), line);
  }
});

test('chat lines are not mistaken for HTTP', (t) => {
  for (const line of [
    'Alice',
    'GET',
    'get / http/1.1',
    'GET me a coffee',
    'GET / HTTP/1.1 please',
    'I said GET / HTTP/1.1',
    '/join #http',
    'POST /  HTTP/1.1x',
    '',
  ]) {
    t.false(looksLikeHttpRequest(line), JSON.stringify(line));
  }
});
