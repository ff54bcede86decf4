import { foldName } from '../protocol/text-hygiene';

/*
 * The interactive client's windows: one per room the user is in and one per private conversation,
 * numbered 1, 2, … in the order they were opened (closing one renumbers those after it). Only the
 * current window's lines are on the screen; the others keep theirs (bounded) and count what arrived
 * unseen, which the status line shows and switching to the window shows again. Pure: it stores
 * rendered lines and decides, it never draws.
 */

/** Lines a window keeps (its scroll-back when it is shown again); older ones are forgotten. */
export const MAX_WINDOW_LINES = 500;

/** Most private-conversation windows; opening one more closes the one quiet the longest. */
export const MAX_PRIVATE_WINDOWS = 30;

/** Most members remembered per room (to know which windows a QUIT or NICK concerns). */
export const MAX_MEMBERS = 10_000;

/** What kind of window: a room (name with '#') or a private conversation (a nickname). */
export type WindowKind = 'room' | 'private';

/** One window. */
export interface ChatWindow {
  kind: WindowKind;
  /** The room ('#dev') or the other person's nickname, as last seen. */
  name: string;
  /** Rendered lines, oldest first, at most MAX_WINDOW_LINES. */
  lines: string[];
  /** Messages (not joins or parts) that arrived while the window was not shown. */
  unread: number;
  /** Of those, the ones that mention the user (every private message counts). */
  mentions: number;
  /** Lines that arrived while the window was not shown (the last `missed` of `lines`, or all if more). */
  missed: number;
  /** Room members, folded, for routing QUIT and NICK lines (rooms only). */
  members: Set<string>;
  /** Counter value of the last line added, for choosing which private window to close. */
  lastActive: number;
}

/** How a line added to a window counts. */
export interface LineKind {
  /** A message (MSG, ACTION, PASTE, PRIVMSG): counts as unread when not shown. */
  message: boolean;
  /** A message that mentions the user, or a private one. */
  mention: boolean;
}

/** What the caller should do after adding a line. */
export interface Placement {
  /** The line belongs to the current window: draw it now. */
  show: boolean;
  /** Ring the terminal bell (a mention or private message from someone else). */
  bell: boolean;
}

/** What switching to a window gives the caller to draw. */
export interface WindowView {
  window: ChatWindow;
  number: number;
  /** The window's lines, oldest first. */
  lines: string[];
  /** How many of the last `lines` arrived unseen (a marker goes before them); 0 if none. */
  missed: number;
  /** Unseen lines that no longer fit in the window's memory. */
  forgotten: number;
  /** Unread messages and mentions before the switch. */
  unread: number;
  mentions: number;
}

/** The user's windows and which one is current. */
export class WindowList {
  private readonly list: ChatWindow[] = [];
  private currentIndex = -1;
  private counter = 0;
  /** Lines shown while the user is in no window (before the first join, or after leaving every room). */
  readonly status: ChatWindow = newWindow('room', '');

  /** Every window, in number order (window N is `all()[N - 1]`). */
  all(): readonly ChatWindow[] {
    return this.list;
  }

  /** The window shown; the status pseudo-window when there is none. */
  get current(): ChatWindow {
    return this.list[this.currentIndex] ?? this.status;
  }

  /** The current window's number (1-based), 0 for the status pseudo-window. */
  get currentNumber(): number {
    return this.currentIndex + 1;
  }

  /** The window for a room or nickname (ignoring case), if open. */
  find(kind: WindowKind, name: string): ChatWindow | undefined {
    const key = foldName(name);
    return this.list.find((w) => w.kind === kind && foldName(w.name) === key);
  }

  /** The number (1-based) of a window, 0 if not open. */
  numberOf(window: ChatWindow): number {
    return this.list.indexOf(window) + 1;
  }

  /** Finds or opens a window; a new one is added at the end and does not become current. */
  open(kind: WindowKind, name: string): ChatWindow {
    const found = this.find(kind, name);
    if (found !== undefined) {
      found.name = name;
      return found;
    }
    if (kind === 'private') this.limitPrivate();
    const window = newWindow(kind, name);
    window.lastActive = ++this.counter;
    this.list.push(window);
    if (this.currentIndex < 0) this.currentIndex = this.list.length - 1;
    return window;
  }

  /** Closes a window; when it was current, the one before it (or after, if it was first) becomes current. */
  close(window: ChatWindow): void {
    const at = this.list.indexOf(window);
    if (at < 0) return;
    const current = this.current;
    this.list.splice(at, 1);
    if (this.list.length === 0) this.currentIndex = -1;
    else if (current === window) this.currentIndex = Math.max(0, at - 1);
    else this.currentIndex = this.list.indexOf(current);
  }

  /** Makes `window` current and returns what to draw: its lines, with the unseen ones marked. */
  switchTo(window: ChatWindow): WindowView {
    const at = this.list.indexOf(window);
    if (at >= 0) this.currentIndex = at;
    const view: WindowView = {
      window,
      number: at + 1,
      lines: window.lines,
      missed: Math.min(window.missed, window.lines.length),
      forgotten: Math.max(0, window.missed - window.lines.length),
      unread: window.unread,
      mentions: window.mentions,
    };
    window.unread = 0;
    window.mentions = 0;
    window.missed = 0;
    return view;
  }

  /** The window `n` (1-based), if there is one. */
  byNumber(n: number): ChatWindow | undefined {
    return Number.isInteger(n) && n >= 1 ? this.list[n - 1] : undefined;
  }

  /** The window after (step 1) or before (step -1) the current one, wrapping around. */
  neighbour(step: 1 | -1): ChatWindow | undefined {
    if (this.list.length === 0) return undefined;
    const from = this.currentIndex < 0 ? 0 : this.currentIndex;
    return this.list[(from + step + this.list.length) % this.list.length];
  }

  /** Adds a rendered line to `window` (the current one if undefined) and says whether to draw it and ring. */
  add(window: ChatWindow | undefined, rendered: string, kind: LineKind, fromSelf = false): Placement {
    const target = window ?? this.current;
    target.lines.push(rendered);
    if (target.lines.length > MAX_WINDOW_LINES) target.lines.splice(0, target.lines.length - MAX_WINDOW_LINES);
    if (kind.message) target.lastActive = ++this.counter;
    const shown = target === this.current;
    if (!shown) {
      target.missed++;
      if (kind.message && !fromSelf) {
        target.unread++;
        if (kind.mention) target.mentions++;
      }
    }
    return { show: shown, bell: kind.mention && !fromSelf };
  }

  /** Moves the status pseudo-window's lines to the front of `window` (the first room's window). */
  adoptStatus(window: ChatWindow): void {
    window.lines.unshift(...this.status.lines.splice(0));
    if (window.lines.length > MAX_WINDOW_LINES) window.lines.splice(0, window.lines.length - MAX_WINDOW_LINES);
    this.status.missed = 0;
  }

  /** Forgets every line of the current window (/clear). */
  clearCurrent(): void {
    this.current.lines = [];
    this.current.missed = 0;
  }

  // ---- room membership (to route QUIT and NICK to the rooms they concern) ----

  /** Replaces a room's member list (NAMES). */
  setMembers(room: string, nicks: readonly string[]): void {
    const window = this.find('room', room);
    if (window === undefined) return;
    window.members = new Set(nicks.slice(0, MAX_MEMBERS).map(foldName));
  }

  /** Someone joined (true) or left (false) a room. */
  member(room: string, nick: string, present: boolean): void {
    const window = this.find('room', room);
    if (window === undefined) return;
    if (!present) window.members.delete(foldName(nick));
    else if (window.members.size < MAX_MEMBERS) window.members.add(foldName(nick));
  }

  /**
   * The windows a QUIT or NICK of `nick` concerns: the rooms where `nick` is a member and the private
   * conversation with `nick`. With `rename`, the member lists and the private window follow the new name.
   */
  windowsOf(nick: string, rename?: string): ChatWindow[] {
    const key = foldName(nick);
    const found = this.list.filter((w) => (w.kind === 'room' ? w.members.has(key) : foldName(w.name) === key));
    if (rename !== undefined) {
      for (const w of found) {
        if (w.kind === 'room') {
          w.members.delete(key);
          w.members.add(foldName(rename));
        } else if (this.find('private', rename) === undefined) {
          w.name = rename;
        }
      }
    }
    return found;
  }

  /** Removes `nick` from every room's members (QUIT). */
  forgetMember(nick: string): void {
    const key = foldName(nick);
    for (const w of this.list) w.members.delete(key);
  }

  /**
   * The status line: every window as "[N:name]", with unread messages and mentions of those not shown
   * ("[2:#dev 3]", "[3:#ops !1]": 1 unread that mentions the user, "[4:bob 2 !1]"). Private windows are
   * named by the nickname.
   */
  statusItems(): Array<{ text: string; current: boolean; mentions: boolean; unread: boolean }> {
    return this.list.map((w, i) => {
      const current = i === this.currentIndex;
      let counts = '';
      if (!current && w.unread > 0) counts = w.mentions === w.unread ? ` !${w.mentions}` : w.mentions > 0 ? ` ${w.unread} !${w.mentions}` : ` ${w.unread}`;
      return { text: `[${i + 1}:${w.name}${counts}]`, current, mentions: w.mentions > 0 && !current, unread: w.unread > 0 && !current };
    });
  }

  private limitPrivate(): void {
    const privates = this.list.filter((w) => w.kind === 'private' && w !== this.current);
    if (privates.length + (this.current.kind === 'private' ? 1 : 0) < MAX_PRIVATE_WINDOWS) return;
    const quietest = privates.reduce<ChatWindow | undefined>((a, b) => (a === undefined || b.lastActive < a.lastActive ? b : a), undefined);
    if (quietest !== undefined) this.close(quietest);
  }
}

function newWindow(kind: WindowKind, name: string): ChatWindow {
  return { kind, name, lines: [], unread: 0, mentions: 0, missed: 0, members: new Set(), lastActive: 0 };
}
