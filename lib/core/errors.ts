// The error codes are part of the wire protocol (mychat-protocol(7)), so they live in lib/protocol; the core's
// modules and handlers keep importing them from here.
export { ChatError, ERROR_CODES, type ErrorCode } from '../protocol/errors';
