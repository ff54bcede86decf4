import type { ServerLine } from '../protocol/server-lines';
import { foldName } from '../protocol/text-hygiene';
import { nickVariant } from './reconnect';

/** How to register on a fresh connection and where to go afterwards. */
export interface RegistrationPlan {
  /** The nickname to ask for; '' leaves registering to the user (the first plain line is the nickname). */
  nick: string;
  /** Rooms to /join once registered, in order, so the last becomes the current room. */
  rooms: readonly string[];
  /**
   * Leave the room the server joins everyone to on registering (#lobby unless mychatd --auto-join says
   * otherwise, or none) when it is not one of `rooms`: it is recognised as the OK JOIN of a room not planned.
   */
  partLobby: boolean;
  /** How many variants (nick_, nick__, …) to try when the nickname is taken; 0 gives up at once. */
  nickVariants: number;
  /** Token of the /ping sent after the joins: its PONG means every join was answered. */
  readyToken: string;
}

/** What the registration wants done or reports, in order. */
export type RegistrationEvent =
  | { kind: 'send'; line: string }
  /** `nick` was taken; `next` is being tried instead. */
  | { kind: 'nick-taken'; nick: string; next: string }
  /** The nickname was refused and no variant is left to try; the user (or the caller) must decide. */
  | { kind: 'nick-refused'; nick: string; code: string; text: string }
  /** The server confirmed the nickname; joins follow. */
  | { kind: 'registered'; nick: string }
  /** The server refused one of the plan's commands (a join) with this error. */
  | { kind: 'join-refused'; code: string; text: string }
  /** Every planned command was answered. */
  | { kind: 'ready'; nick: string };

type Phase = 'hello' | 'nick-sent' | 'by-hand' | 'joining' | 'done';

/**
 * The registration handshake as a pure state machine: feed it every server line, carry out the events it
 * returns. After HELLO it asks for the nickname (trying variants when it is taken, if allowed); after OK
 * NICK it joins the planned rooms and sends a /ping, and since the server answers in order, the PONG
 * means every join has been answered. Used for the first connection and for reconnections alike.
 */
export class Registration {
  private phase: Phase = 'hello';
  private attempt = 0;
  private tried = '';
  private nick = '';
  /** True once the server's automatic join was left (it is left once). */
  private partedAutoJoin = false;

  constructor(readonly plan: RegistrationPlan) {}

  /** True once every planned command was answered. */
  get done(): boolean {
    return this.phase === 'done';
  }

  /** Handles one server line; returns what to do about it (usually nothing). */
  handle(line: ServerLine): RegistrationEvent[] {
    const [a = '', b = ''] = line.fields;
    switch (this.phase) {
      case 'hello':
        if (line.keyword !== 'HELLO') return [];
        if (this.plan.nick.length === 0) {
          this.phase = 'by-hand';
          return [];
        }
        this.phase = 'nick-sent';
        this.tried = this.plan.nick;
        return [{ kind: 'send', line: `/nick ${this.plan.nick}` }];
      case 'nick-sent':
        if (line.keyword === 'ERR') {
          if (a === 'NICK_IN_USE' && this.attempt < this.plan.nickVariants) {
            const next = nickVariant(this.plan.nick, ++this.attempt);
            const taken = this.tried;
            this.tried = next;
            return [
              { kind: 'nick-taken', nick: taken, next },
              { kind: 'send', line: `/nick ${next}` },
            ];
          }
          this.phase = 'by-hand';
          return [{ kind: 'nick-refused', nick: this.tried, code: a, text: line.text }];
        }
        return this.onNick(line, a, b);
      case 'by-hand':
        return this.onNick(line, a, b);
      case 'joining':
        if (line.keyword === 'ERR') return [{ kind: 'join-refused', code: a, text: line.text }];
        // Every planned join is of a planned room, so the OK JOIN of another is the server's automatic one.
        if (line.keyword === 'OK' && a === 'JOIN' && this.plan.partLobby && !this.partedAutoJoin && !this.plan.rooms.some((room) => foldName(room) === foldName(b))) {
          this.partedAutoJoin = true;
          return [{ kind: 'send', line: `/part ${b}` }];
        }
        if (line.keyword === 'PONG' && line.text === this.plan.readyToken) {
          this.phase = 'done';
          return [{ kind: 'ready', nick: this.nick }];
        }
        return [];
      case 'done':
        return [];
    }
  }

  private onNick(line: ServerLine, a: string, b: string): RegistrationEvent[] {
    if (line.keyword !== 'OK' || a !== 'NICK' || b.length === 0) return [];
    this.nick = b;
    this.phase = 'joining';
    const events: RegistrationEvent[] = [{ kind: 'registered', nick: b }];
    for (const room of this.plan.rooms) events.push({ kind: 'send', line: `/join ${room}` });
    events.push({ kind: 'send', line: `/ping ${this.plan.readyToken}` });
    return events;
  }
}

/** Prefix of the /ping tokens the client sends for itself; their PONGs are not shown. */
export const INTERNAL_TOKEN_PREFIX = 'mychat-client-';

/** A fresh token for one of the client's own /ping checks. */
export function internalToken(purpose: string): string {
  return `${INTERNAL_TOKEN_PREFIX}${purpose}-${Math.random().toString(36).slice(2, 10)}`;
}

/** True for the PONG of one of the client's own /ping checks. */
export function isInternalPong(line: ServerLine): boolean {
  return line.keyword === 'PONG' && line.text.startsWith(INTERNAL_TOKEN_PREFIX);
}
