/**
 * Why a session ended, as shown to others in QUIT lines. It lives in the protocol layer because both the
 * core and the transports end sessions (the socket sink drops a client whose send queue overflows).
 */
export const QUIT_REASONS = {
  closed: 'Connection closed',
  lost: 'Connection lost',
  timedOut: 'Timed out',
  idle: 'Idle timeout',
  sendQueue: 'Send queue exceeded',
  shutdown: 'Server shutting down',
  internal: 'Internal error',
} as const;
