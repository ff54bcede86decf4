import type { ErrorCode } from '../protocol/errors';
import type { FailureEvent, NoticeEvent, ReplyEvent, RoomInfoEvent } from './events';
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
export function roomInfo(room: Room): RoomInfoEvent {
  return { type: 'room', room: room.name, members: room.members.size, topic: room.topic };
}
