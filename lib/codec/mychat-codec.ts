import type { ChatEvent, HistoryEvent } from '../core/events';
import { encodeLine, formatLine } from '../protocol/server-lines';
import { cachedEncoder, type Codec } from './codec';

/** A history entry's time as the HISTORY line shows it: UTC to the second. */
function historyTime(at: number): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The HISTORY lines of one entry; a paste comes back as its lines, same id, each text starting with "i/n". */
function historyText(event: HistoryEvent): string {
  const fields = [event.room, String(event.id), historyTime(event.at), event.from, event.kind];
  if (event.kind !== 'PASTE') return formatLine('HISTORY', fields, event.text) + '\r\n';
  const lines = event.text.split('\n');
  let out = '';
  lines.forEach((text, i) => {
    out += formatLine('HISTORY', fields, `${i + 1}/${lines.length}${text.length > 0 ? ' ' + text : ''}`) + '\r\n';
  });
  return out;
}

/** The mychat line(s) for one event, byte for byte what mychat-protocol(7) documents (uncached: use a codec). */
export function encodeMychat(event: ChatEvent): Buffer {
  switch (event.type) {
    case 'hello':
      return encodeLine('HELLO', [event.server], event.text);
    case 'reply':
      return encodeLine('OK', [event.command, event.subject], event.text);
    case 'failure':
      return encodeLine('ERR', [event.code], event.text);
    case 'pong':
      return encodeLine('PONG', [], event.token);
    case 'bye':
      return encodeLine('BYE', [], event.text);
    case 'notice':
      return encodeLine('NOTICE', [], event.text);
    case 'message':
      return encodeLine('MSG', [event.room, event.from], event.text);
    case 'action':
      return encodeLine('ACTION', [event.room, event.from], event.text);
    case 'paste': {
      // All lines in one Buffer: queued together, nothing can come between them.
      const n = event.lines.length;
      let out = '';
      event.lines.forEach((text, i) => {
        out += formatLine('PASTE', [event.room, event.from, event.pasteId, `${i + 1}/${n}`], text) + '\r\n';
      });
      return Buffer.from(out, 'utf8');
    }
    case 'private':
      return encodeLine('PRIVMSG', [event.from], event.text);
    case 'join':
      return encodeLine('JOIN', [event.room, event.nick]);
    case 'part':
      return encodeLine('PART', [event.room, event.nick], event.reason);
    case 'quit':
      return encodeLine('QUIT', [event.nick], event.reason);
    case 'nick':
      return encodeLine('NICK', [event.from, event.to]);
    case 'topic':
      return encodeLine('TOPIC', [event.room, event.by], event.text);
    case 'room':
      return encodeLine('ROOM', [event.room, String(event.members)], event.topic);
    case 'names':
      return encodeLine('NAMES', [event.label], event.nicks.join(' '));
    case 'whois':
      return Buffer.from(
        formatLine('WHOIS', [event.nick, 'rooms'], event.rooms.join(' ')) +
          '\r\n' +
          formatLine('WHOIS', [event.nick, 'connected'], new Date(event.connectedAt).toISOString()) +
          '\r\n' +
          formatLine('WHOIS', [event.nick, 'idle'], String(event.idleSeconds)) +
          '\r\n',
        'utf8',
      );
    case 'help':
      return encodeLine('HELP', [event.command], event.text);
    case 'history':
      return Buffer.from(historyText(event), 'utf8');
    case 'history-end':
      return encodeLine('HISTEND', [event.room, String(event.count)], event.text);
  }
}

/**
 * A codec for mychat's own line format (today's wire format, unchanged). Each instance has its own
 * one-slot cache: share one instance per process (MYCHAT_CODEC) so that a broadcast is encoded once for
 * every mychat connection.
 */
export function mychatCodec(): Codec {
  // A fresh cache per instance: two codecs never share, or evict, each other's last event.
  return { name: 'mychat', encode: cachedEncoder(encodeMychat) };
}

/** The process's shared mychat codec: every mychat connection uses it, so a broadcast is encoded once. */
export const MYCHAT_CODEC: Codec = mychatCodec();
