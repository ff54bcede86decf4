/** Stable, machine-readable error codes; each is documented in mychat-protocol(7) and never renamed. */
export const ERROR_CODES = [
  'LINE_TOO_LONG',
  'BAD_UTF8',
  'UNKNOWN_COMMAND',
  'BAD_ARGS',
  'NICK_REQUIRED',
  'NICK_INVALID',
  'NICK_IN_USE',
  'NO_SUCH_NICK',
  'ROOM_INVALID',
  'NO_SUCH_ROOM',
  'NOT_IN_ROOM',
  'NO_CURRENT_ROOM',
  'TOO_MANY_ROOMS',
  'TEXT_TOO_LONG',
  'SERVER_FULL',
  'TOO_MANY_CONNECTIONS',
  'NOT_CHAT',
  'NO_HISTORY',
  'NICK_RESERVED',
  'QUERY_TIMEOUT',
  'HISTORY_BUSY',
  'FLOODING',
  'CONNECT_RATE',
  'PASTE_TOO_LONG',
  'BAD_JSON',
  'BAD_FRAME',
] as const;

/** One stable error code. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** An error that refuses a request (thrown by a command handler or a history query); the core turns it into one ERR line. */
export class ChatError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ChatError';
  }
}
