/**
 * One framed input line: its text, or the reason it was rejected. The framer (line-framer.ts) makes them;
 * DROPPED is a line that flood control cut short.
 */
export type InputLine = { ok: true; text: string } | { ok: false; code: 'LINE_TOO_LONG' | 'BAD_UTF8' | 'DROPPED' };
