/**
 * The peer's address as mychat logs and budgets it: IPv4 peers on a dual-stack socket show as
 * ::ffff:a.b.c.d and are given as plain IPv4, so every door names the same host the same way.
 */
export function peerAddress(remoteAddress: string | undefined): string {
  return (remoteAddress ?? 'unknown').replace(/^::ffff:(?=\d)/, '');
}
