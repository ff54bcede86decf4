import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import type net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../lib/log';
import { peerAddress } from '../lib/transport/peer-address';

/**
 * How long a TLS client has to finish its handshake. A plain client gets --nick-timeout to pick a name; a
 * handshake that has not completed after this long is an attacker or a wrong client, and each one holds
 * a socket and a little memory until it is cut.
 */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Thrown when the certificate or key cannot be read or used; the message names the file and the cause. */
export class TlsCredentialsError extends Error {}

/** A certificate and key read from PEM files, checked to belong together. */
export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
  /** SHA-256 fingerprint of the certificate, for the log (so an operator can see which one is in use). */
  fingerprint: string;
  /** Last day the certificate is valid, as the certificate states it. */
  validTo: string;
}

function readPem(option: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new TlsCredentialsError(`cannot read ${option} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** Reads and checks the certificate and key; throws TlsCredentialsError when either cannot be used. */
export function loadTlsCredentials(certFile: string, keyFile: string): TlsCredentials {
  const cert = readPem('--tls-cert', certFile);
  const key = readPem('--tls-key', keyFile);
  let parsed: X509Certificate;
  try {
    parsed = new X509Certificate(cert);
  } catch (error) {
    throw new TlsCredentialsError(`--tls-cert ${certFile} is not a PEM certificate (${(error as Error).message})`);
  }
  try {
    // Parses the key and checks that it matches the certificate ("key values mismatch").
    tls.createSecureContext({ cert, key });
  } catch (error) {
    throw new TlsCredentialsError(`--tls-key ${keyFile} cannot be used with --tls-cert ${certFile} (${(error as Error).message})`);
  }
  return { cert, key, fingerprint: parsed.fingerprint256, validTo: parsed.validTo };
}

/** The TLS options every secure context of the door uses: TLS 1.2 at least, Node's default ciphers. */
function contextOptions(credentials: TlsCredentials): tls.SecureContextOptions {
  return { cert: credentials.cert, key: credentials.key, minVersion: 'TLSv1.2' };
}

/**
 * The TLS door: a tls.Server whose decrypted sockets go to the same `accept` as plain TCP ones, so framing,
 * flood control, send-queue caps and the chat core are shared. Every raw connection is tracked until it
 * closes: once the listener has drained the sessions at shutdown, what is left is still in its handshake.
 */
export class TlsDoor {
  readonly server: tls.Server;
  private readonly rawSockets = new Set<net.Socket>();

  constructor(
    credentials: TlsCredentials,
    accept: (socket: net.Socket) => void,
    private readonly log: Logger,
    maxConnections: number,
  ) {
    this.server = tls.createServer({ ...contextOptions(credentials), allowHalfOpen: true, noDelay: true, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS }, (socket) => accept(socket));
    this.server.maxConnections = maxConnections;
    this.server.on('connection', (raw: net.Socket) => {
      this.rawSockets.add(raw);
      raw.once('close', () => this.rawSockets.delete(raw));
    });
    // Debug level: scanners and wrong clients produce these all day; the logger's storm guard bounds them.
    this.server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      this.log.log('debug', 'tls-handshake-failed', { addr: peerAddress(socket.remoteAddress), error: error.code ?? error.message });
    });
    this.server.on('error', (error) => this.log.log('error', 'listener-error', { error: error.message, tls: true }));
  }

  /** Uses a new certificate and key for handshakes from now on; established connections are not touched. */
  useCredentials(credentials: TlsCredentials): void {
    this.server.setSecureContext(contextOptions(credentials));
  }

  /** Bounds the connections the TLS port holds at once, handshaking ones included (follows --max-clients). */
  setMaxConnections(maxConnections: number): void {
    this.server.maxConnections = maxConnections;
  }

  /** Stops accepting; resolves once the server closed (after `cutHandshakes` and the listener's drain). */
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Cuts what is left after the listener drained its sessions: connections still in their handshake. */
  cutHandshakes(): void {
    for (const raw of this.rawSockets) raw.destroy();
  }
}
