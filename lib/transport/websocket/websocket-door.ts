import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { Codec } from '../../codec/codec';
import { codecFor } from '../../codec/codecs';
import type { WireFormat } from '../../protocol/wire-formats';
import type { Logger } from '../../log';
import { LIMITS } from '../../protocol/limits';
import type { ByteChannel, SocketSink } from '../socket-sink';
import type { Connection } from '../connection';
import { peerAddress } from '../peer-address';

/** The subprotocols the door speaks, each naming the wire format it selects. A client that offers none gets mychat.v1. */
export const SUBPROTOCOL_CODECS: Readonly<Record<string, WireFormat>> = { 'mychat.v1': 'mychat', 'mychat.json.v1': 'json' };

/** How often the door pings each client; one that has not answered the previous ping by then is closed. */
export const WEB_PING_INTERVAL_MS = 30_000;

/** How long the HTTP side waits for a request's headers: a slow-loris client holds a socket for at most this. */
const HEADERS_TIMEOUT_MS = 10_000;

/**
 * The Content-Security-Policy of every answer: the page may load its own script, style sheet and icon and
 * connect to its own origin (ws: included), nothing else; no inline script or style, no plugins, no
 * framing by other sites, and Trusted Types required, so even a stray innerHTML in the client would throw.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

/** Headers on every HTTP answer of the door (the client's files, errors, refusals). */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** Where `npm run build` puts the browser client, next to the compiled door (dist/lib/transport/websocket -> dist/web). */
export const DEFAULT_WEB_ROOT = path.join(__dirname, '..', '..', '..', 'web');

/** The file types the door serves, by extension; other files in the folder are not served. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page's placeholder for the plain chat port (in its <noscript> text). */
const TCP_PORT_MARK = '%TCP_PORT%';

/** One file of the browser client, held in memory with its gzip form and validator. */
interface StaticFile {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

function staticFile(type: string, body: Buffer): StaticFile {
  return { type, body, gzip: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/**
 * Reads the built browser client (a flat folder: index.html, app.js, app.css, icon.svg) into memory once,
 * so a request never touches the disk and no request path can name a file outside this fixed set.
 * Undefined when the folder holds no index.html (a checkout that was not built).
 */
export function loadWebClient(root: string): Map<string, Buffer> | undefined {
  if (!existsSync(path.join(root, 'index.html'))) return undefined;
  const files = new Map<string, Buffer>();
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (entry.isFile() && /^[a-z0-9-]+\.[a-z]+$/.test(entry.name) && CONTENT_TYPES[path.extname(entry.name)] !== undefined) {
      files.set('/' + entry.name, readFileSync(path.join(root, entry.name)));
    }
  }
  return files;
}

/** What the door needs from the daemon. */
export interface WebDoorOptions {
  /** Allowed Origin values (scheme://host[:port]); empty: only same-origin (Origin absent, or its host equals Host). */
  origins: readonly string[];
  /** Plain chat port, for the help page ("nc HOST PORT"). */
  chatPort: () => number;
  log: Logger;
  /** Most connections the port holds at once, HTTP requests and upgrades included (follows --max-clients). */
  maxConnections?: number;
  /** Ping interval; tests may shorten it. */
  pingIntervalMs?: number;
  /** Folder of the built browser client (default DEFAULT_WEB_ROOT); without one, `/` is a short text page. */
  webRoot?: string;
}

/** Hands an upgraded WebSocket to the daemon's shared connection machinery (budgets, caps, the core). */
export type WebAccept = (source: WebSocket, channel: ByteChannel, address: string, codec: Codec) => { connection: Connection; sink: SocketSink } | undefined;

/** Per-WebSocket state, kept on the WebSocket itself so the event handlers can be shared. */
const STATE = Symbol('mychat');
interface WebState {
  connection: Connection;
  alive: boolean;
}
type ServedWebSocket = WebSocket & { [STATE]?: WebState };

const LF = Buffer.from('\n');

// Handlers shared by every WebSocket (`this` is the WebSocket): no closures per connection.
function onMessage(this: ServedWebSocket, data: RawData, isBinary: boolean): void {
  const state = this[STATE];
  if (state === undefined) return;
  const frame = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
  if (isBinary) {
    state.connection.refuseInput('BAD_FRAME', 'Binary frames are not chat: send each line as one text frame. It was not sent.', frame.length);
    return;
  }
  if (frame.includes(13) || frame.includes(10)) {
    state.connection.refuseInput('BAD_FRAME', 'A text frame is one line: it must not contain CR or LF. It was not sent.', frame.length);
    return;
  }
  state.connection.data(Buffer.concat([frame, LF]));
}

function onPong(this: ServedWebSocket): void {
  const state = this[STATE];
  if (state !== undefined) state.alive = true;
}

function onError(this: ServedWebSocket, error: NodeJS.ErrnoException): void {
  this[STATE]?.connection.error(error);
}

function onClose(this: ServedWebSocket, code: number): void {
  // 1000 (normal) and 1001 (going away, a closed tab) are a client leaving; anything else is a lost connection.
  this[STATE]?.connection.closed(code === 1000 || code === 1001);
}

/** A WebSocket as the SocketSink's byte channel: each CRLF-ended line it is given leaves as one text frame. */
class WebSocketChannel implements ByteChannel {
  constructor(private readonly ws: WebSocket) {}

  write(bytes: Buffer): void {
    let from = 0;
    for (let at = bytes.indexOf(10); at >= 0; at = bytes.indexOf(10, from)) {
      const end = at > from && bytes[at - 1] === 13 ? at - 1 : at;
      this.ws.send(bytes.subarray(from, end), { binary: false });
      from = at + 1;
    }
    if (from < bytes.length) this.ws.send(bytes.subarray(from), { binary: false });
  }

  cork(): void {}

  uncork(): void {}

  end(): void {
    this.ws.close(1000);
  }

  destroy(): void {
    this.ws.terminate();
  }

  get destroyed(): boolean {
    return this.ws.readyState !== WebSocket.OPEN;
  }

  get writableLength(): number {
    return this.ws.bufferedAmount;
  }
}

/** The Origin check: an allow-listed origin, or same-origin (no Origin, or its host:port is the Host header). */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (allowed.length > 0) return allowed.includes(origin);
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

/** Answers a raw upgrade socket with an HTTP error and closes it. */
function refuseUpgrade(socket: Duplex, status: number, reason: string, text: string): void {
  const headers = Object.entries({ ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close', 'Content-Length': String(Buffer.byteLength(text)) });
  socket.end(`HTTP/1.1 ${status} ${reason}\r\n${headers.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${text}`);
}

/**
 * The WebSocket door (--web-port): an HTTP server that upgrades to WebSocket (subprotocol mychat.v1: one
 * text frame per line each way; mychat.json.v1: JSON mode) and serves the browser client's few static files
 * at `/` (from memory, gzip when asked, with the security headers). Every WebSocket becomes a
 * Connection through the same `accept` as TCP, so flood budgets, per-address caps, the connection rate,
 * the send-queue cap and the output turn are the same.
 */
export class WebSocketDoor {
  readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly pinger: NodeJS.Timeout;
  private readonly client: Map<string, Buffer> | undefined;
  private readonly served = new Map<string, StaticFile>();
  private servedPort = -1;

  constructor(
    private readonly accept: WebAccept,
    private readonly options: WebDoorOptions,
  ) {
    this.client = loadWebClient(options.webRoot ?? DEFAULT_WEB_ROOT);
    this.server = http.createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: HEADERS_TIMEOUT_MS }, (req, res) => this.page(req, res));
    // maxPayload: the protocol's line cap; a larger frame closes the connection with 1009 (message too big).
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: LIMITS.maxLineBytes,
      clientTracking: true,
      perMessageDeflate: false,
      handleProtocols: (offered) => this.choose([...offered]) ?? false,
    });
    if (options.maxConnections !== undefined) this.server.maxConnections = options.maxConnections;
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    this.server.on('error', (error) => options.log.log('error', 'listener-error', { error: error.message, web: true }));
    this.pinger = setInterval(() => this.ping(), options.pingIntervalMs ?? WEB_PING_INTERVAL_MS);
    this.pinger.unref();
  }

  /** Number of open WebSockets. */
  get connectionCount(): number {
    return this.wss.clients.size;
  }

  /** Bounds the connections the port holds at once (follows --max-clients on reload). */
  setMaxConnections(maxConnections: number): void {
    this.server.maxConnections = maxConnections;
  }

  /** Stops accepting; resolves once the HTTP server has closed. */
  close(): Promise<void> {
    clearInterval(this.pinger);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Cuts what is left once the sessions were told goodbye. */
  cut(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.server.closeAllConnections();
  }

  private page(req: http.IncomingMessage, res: http.ServerResponse): void {
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (!get) return this.text(req, res, 405, 'Only GET is served here.\n', { Allow: 'GET, HEAD' });
    const url = (req.url ?? '/').split('?')[0]!;
    if (this.client === undefined) {
      if (url !== '/') return this.text(req, res, 404, 'Not found.\n');
      const host = (req.headers.host ?? 'this-server').replace(/:\d+$/, '');
      return this.text(
        req,
        res,
        200,
        `This is mychat, a plain-text chat server.\n\nConnect with nc:  nc ${host} ${this.options.chatPort()}\nor with the mychat client, or a WebSocket client (subprotocol mychat.v1) on this port.\n\nThe browser client is not built here (npm run build).\n`,
      );
    }
    const file = this.file(url === '/' ? '/index.html' : url);
    if (file === undefined) return this.text(req, res, 404, 'Not found.\n');
    const headers: http.OutgoingHttpHeaders = { ...SECURITY_HEADERS, 'Content-Type': file.type, 'Cache-Control': 'no-cache', ETag: file.etag, Vary: 'Accept-Encoding' };
    if (req.headers['if-none-match'] === file.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? file.gzip : file.body;
    res.writeHead(200, { ...headers, 'Content-Length': body.length, ...(gzip ? { 'Content-Encoding': 'gzip' } : {}) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /** A file of the browser client as served; the page gets the chat port written in, once it is known. */
  private file(url: string): StaticFile | undefined {
    const port = this.options.chatPort();
    if (port !== this.servedPort) {
      this.served.clear();
      this.servedPort = port;
    }
    const cached = this.served.get(url);
    if (cached !== undefined) return cached;
    const raw = this.client?.get(url);
    if (raw === undefined) return undefined;
    const body = url === '/index.html' ? Buffer.from(raw.toString('utf8').replaceAll(TCP_PORT_MARK, String(port))) : raw;
    const file = staticFile(CONTENT_TYPES[path.extname(url)]!, body);
    this.served.set(url, file);
    return file;
  }

  private text(req: http.IncomingMessage, res: http.ServerResponse, status: number, text: string, extra: http.OutgoingHttpHeaders = {}): void {
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...extra });
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    const address = peerAddress(req.socket.remoteAddress);
    if (!originAllowed(req.headers.origin, req.headers.host, this.options.origins)) {
      this.options.log.log('info', 'refused', { addr: address, reason: 'origin', origin: req.headers.origin, web: true });
      refuseUpgrade(socket, 403, 'Forbidden', 'This Origin may not connect (see mychatd --web-origins).\n');
      return;
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
    const chosen = this.choose(offered);
    if (offered.length > 0 && chosen === undefined) {
      refuseUpgrade(socket, 400, 'Bad Request', `Unknown subprotocol; this server speaks ${Object.keys(SUBPROTOCOL_CODECS).join(', ')}.\n`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.serve(ws as ServedWebSocket, address, chosen));
  }

  /** The first offered subprotocol whose codec is available (undefined: none is). */
  private choose(offered: readonly string[]): string | undefined {
    return offered.find((p) => SUBPROTOCOL_CODECS[p] !== undefined);
  }

  private serve(ws: ServedWebSocket, address: string, subprotocol: string | undefined): void {
    ws.on('error', onError);
    // The codec is chosen before the session exists, so even the greeting is in the chosen format.
    const format = subprotocol === undefined ? 'mychat' : SUBPROTOCOL_CODECS[subprotocol]!;
    const served = this.accept(ws, new WebSocketChannel(ws), address, codecFor(format));
    if (served === undefined) return;
    ws[STATE] = { connection: served.connection, alive: true };
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('close', onClose);
  }

  private ping(): void {
    for (const ws of this.wss.clients as Set<ServedWebSocket>) {
      const state = ws[STATE];
      if (state === undefined) continue;
      if (!state.alive) {
        this.options.log.log('info', 'ping-timeout', { web: true });
        ws.terminate();
        continue;
      }
      state.alive = false;
      ws.ping();
    }
  }
}
