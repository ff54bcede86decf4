/** True if the first bytes of a connection are a TLS handshake record (a TLS client on the plain port). */
export function looksLikeTlsHandshake(chunk: Uint8Array): boolean {
  return chunk.length >= 2 && chunk[0] === 0x16 && chunk[1] === 0x03;
}

const HTTP_REQUEST = /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE|PRI) \S+ HTTP\/\d(\.\d)?$/;

/** True if a line is an HTTP request line (a web browser or curl on the chat port). */
export function looksLikeHttpRequest(line: string): boolean {
  return HTTP_REQUEST.test(line.trimEnd());
}
