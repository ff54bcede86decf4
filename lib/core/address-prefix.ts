import net from 'node:net';

/**
 * The network a remote address belongs to, as a string key: IPv4 addresses are cut to their first
 * `v4Bits` bits and IPv6 addresses to their first `v6Bits` (an IPv6 host usually owns a whole /64, so
 * counting its addresses one by one would let it multiply every per-address limit by 2^64).
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) count as IPv4. Anything unparsable is its own key.
 */
export function addressPrefix(address: string, v4Bits = 32, v6Bits = 64): string {
  const plain = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  if (net.isIPv4(plain)) {
    if (v4Bits >= 32) return plain;
    const value = plain.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
    const masked = v4Bits <= 0 ? 0 : Math.floor(value / 2 ** (32 - v4Bits)) * 2 ** (32 - v4Bits);
    const octets = [24, 16, 8, 0].map((shift) => Math.floor(masked / 2 ** shift) % 256);
    return `${octets.join('.')}/${v4Bits}`;
  }
  if (net.isIPv6(plain)) {
    const groups = expandIPv6(plain);
    if (v6Bits >= 128) return groups.join(':');
    const bits = groups.map((g) => parseInt(g, 16).toString(2).padStart(16, '0')).join('').slice(0, Math.max(0, v6Bits));
    const kept = bits.padEnd(128, '0');
    const out: string[] = [];
    for (let i = 0; i < 128; i += 16) out.push(parseInt(kept.slice(i, i + 16), 2).toString(16));
    return `${out.join(':')}/${v6Bits}`;
  }
  return plain;
}

/** The eight 16-bit groups of an IPv6 address (zone index dropped, embedded IPv4 converted). */
function expandIPv6(address: string): string[] {
  let text = address.split('%')[0]!.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((g) => g || '0');
}
