import type { ChatEvent, FailureEvent, NamesEvent, NoticeEvent, ReplyEvent, RoomInfoEvent } from '../../lib/core/events';
import type { ClientSink } from '../../lib/core/ports/client-sink';
import type { WireFormat } from '../../lib/protocol/wire-formats';

/**
 * A ClientSink for unit tests of the core: records every event object it is handed, in order, and every
 * close. take() returns what came since the last take, with the clock time (`at`) of live messages left
 * out so that tests compare what was said; tests about time read `events` directly.
 */
export class EventSink implements ClientSink {
  readonly events: ChatEvent[] = [];
  readonly closes: string[] = [];
  private read = 0;

  deliver(event: ChatEvent): void {
    this.events.push(event);
  }

  /** The wire format the core last asked for (/format). */
  format: WireFormat = 'mychat';

  switchFormat(format: WireFormat): void {
    this.format = format;
  }

  close(reason: string): void {
    this.closes.push(reason);
  }

  get closed(): boolean {
    return this.closes.length > 0;
  }

  /** Events received since the last call, without `at`. */
  take(): ChatEvent[] {
    const fresh = this.events.slice(this.read);
    this.read = this.events.length;
    return fresh.map(withoutTime);
  }
}

/** `event` without its `at` field (messages, actions, pastes, private messages), for comparisons. */
export function withoutTime(event: ChatEvent): ChatEvent {
  if (!('at' in event) || event.type === 'history') return event;
  const rest: Partial<ChatEvent> = { ...event };
  delete (rest as { at?: number }).at;
  return rest as ChatEvent;
}

/** The code of a failure event, or undefined for any other event. */
export function codeOf(event: ChatEvent | undefined): string | undefined {
  return event?.type === 'failure' ? event.code : undefined;
}

/** The text of an event that has one (reply, failure, notice, bye, hello, help, message...), else ''. */
export function textOf(event: ChatEvent | undefined): string {
  return event !== undefined && 'text' in event ? event.text : '';
}

/** A reply event, as the core makes it. */
export const ok = (command: string, subject: string, text: string): ReplyEvent => ({ type: 'reply', command, subject, text });
/** A failure event. */
export const err = (code: string, text: string): FailureEvent => ({ type: 'failure', code, text });
/** A notice event. */
export const notice = (text: string): NoticeEvent => ({ type: 'notice', text });
/** A room-info event. */
export const roomInfo = (room: string, members: number, topic = ''): RoomInfoEvent => ({ type: 'room', room, members, topic });
/** A names event. */
export const names = (label: string, ...nicks: string[]): NamesEvent => ({ type: 'names', label, nicks });
/** A room message without its time, as take() returns it. */
export const msg = (room: string, from: string, text: string): ChatEvent => ({ type: 'message', room, from, text }) as unknown as ChatEvent;
/** A /me action without its time, as take() returns it. */
export const action = (room: string, from: string, text: string): ChatEvent => ({ type: 'action', room, from, text }) as unknown as ChatEvent;
/** A private message without its time, as take() returns it. */
export const privmsg = (from: string, text: string): ChatEvent => ({ type: 'private', from, text }) as unknown as ChatEvent;
