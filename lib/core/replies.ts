import type { ErrorCode } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import { codePoints, neutralise } from '../protocol/text-hygiene';
import type { FailureEvent, NamesEvent, NoticeEvent, ReplyEvent, RoomInfoEvent } from './events';
import type { Room } from './session';

/** The reply to a command of yours that succeeded: `command` its upper-case name, `subject` what it was about. */
export function reply(command: string, subject: string, text: string): ReplyEvent {
  return { type: 'reply', command, subject, text };
}

/** The failure event for a refusal: ChatCore.refuse and the connection refusals build it only here. */
export function failure(code: ErrorCode, text: string): FailureEvent {
  return { type: 'failure', code, text };
}

/** A notice; `text` must already be neutralised. */
export function notice(text: string): NoticeEvent {
  return { type: 'notice', text };
}

/** A room's name, member count and topic, as /join, /topic and /rooms show it. */
export function roomInfo(room: Room, members: number = room.members.size): RoomInfoEvent {
  return { type: 'room', room: room.name, members, topic: room.topic };
}

/** What a joiner of a large room gets instead of its names: why, and how to list them (/who pages). */
export function largeRoomNotice(room: Room, largeRoom: number, members: number = room.members.size): NoticeEvent {
  return notice(
    `${room.name} is a large room (${members} members, more than ${largeRoom}): joins, parts, quits and nickname changes are not shown in it, and /who ${room.name} lists its members, ${LIMITS.maxWhoNames} at a time.`,
  );
}

/** Most nicknames in one names event, so that a large room never makes an unbounded line. */
const NAMES_PER_EVENT = 40;

/** Names events listing the nicknames of `members` under `label`, a bounded number per event. */
export function namesEvents(label: string, members: Iterable<{ readonly nick: string }>): NamesEvent[] {
  const events: NamesEvent[] = [];
  let batch: string[] = [];
  for (const member of members) {
    batch.push(member.nick);
    if (batch.length === NAMES_PER_EVENT) {
      events.push({ type: 'names', label, nicks: batch });
      batch = [];
    }
  }
  if (batch.length > 0) events.push({ type: 'names', label, nicks: batch });
  return events;
}

/** A /part or /quit reason as shown to others: neutralised and cut to LIMITS.maxReasonLength. */
export function reasonText(raw: string | undefined): string {
  if (raw === undefined) return '';
  const text = neutralise(raw);
  return codePoints(text) > LIMITS.maxReasonLength ? [...text].slice(0, LIMITS.maxReasonLength).join('') : text;
}
