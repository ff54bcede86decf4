import type { ChatState, Conversation, Entry } from './chat-state';
import { COMMAND_CATALOGUE } from '../lib/protocol/command-catalogue';
import { COMMAND_NAMES, commonPrefix, complete } from './completion';
import { longTime, shortTime, visible } from './text';

/*
 * The page. Every piece of text from the server or another user goes in with textContent (never innerHTML),
 * after visible(), so nothing in a message can become markup, a script or a terminal control; names and
 * texts are bidi-isolated (CSS unicode-bidi: isolate, dir=auto) so right-to-left text cannot reorder the
 * line around it.
 */

const byId = <T extends HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`missing #${id}`);
  return found as T;
};

/** Makes an element with a class and text (as text, never markup). */
function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className !== '') node.className = className;
  if (text !== undefined) node.textContent = visible(text);
  return node;
}

/** The page's elements and the drawing of the state onto them. */
export class View {
  private readonly login = byId<HTMLElement>('login');
  private readonly loginStatus = byId<HTMLElement>('login-status');
  private readonly loginButton = byId<HTMLButtonElement>('login-button');
  private readonly nickInput = byId<HTMLInputElement>('nick');
  private readonly nickError = byId<HTMLElement>('nick-error');
  private readonly app = byId<HTMLElement>('app');
  private readonly title = byId<HTMLElement>('title');
  private readonly topic = byId<HTMLElement>('topic');
  private readonly status = byId<HTMLElement>('status');
  private readonly list = byId<HTMLUListElement>('conversations');
  private readonly pane = byId<HTMLElement>('pane');
  private readonly older = byId<HTMLElement>('older');
  private readonly entries = byId<HTMLOListElement>('entries');
  private readonly members = byId<HTMLElement>('members');
  private readonly memberList = byId<HTMLUListElement>('member-list');
  private readonly input = byId<HTMLTextAreaElement>('input');
  private readonly completions = byId<HTMLElement>('completions');
  private readonly confirm = byId<HTMLElement>('confirm');
  private readonly confirmText = byId<HTMLElement>('confirm-text');
  private readonly offline = byId<HTMLElement>('offline');
  private readonly offlineText = byId<HTMLElement>('offline-text');

  private shown = { key: '', layout: -1, first: -1, last: -1 };
  /** What the conversation list and member list were last drawn from, to skip redrawing them for every message. */
  private listDrawn = '';
  private membersDrawn: readonly string[] | undefined;
  private scheduled = false;
  private cycle: { candidates: string[]; index: number; from: number; to: number } | undefined;
  private wasInChat = false;
  /** Text shown in the offline banner (set by the connection's reconnect countdown). */
  offlineMessage = '';

  constructor(
    private readonly state: ChatState,
    private readonly actions: { reconnect: () => void },
  ) {
    byId<HTMLFormElement>('login-form').addEventListener('submit', (event) => {
      event.preventDefault();
      if (this.nickInput.value.trim() === '') {
        this.nickError.textContent = 'Type a nickname first.';
        return;
      }
      this.state.submitNick(this.nickInput.value);
    });
    byId<HTMLFormElement>('compose').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener('keydown', (event) => this.inputKey(event));
    this.input.addEventListener('input', () => {
      this.cycle = undefined;
      this.completions.textContent = '';
      this.grow();
    });
    byId('confirm-send').addEventListener('click', () => this.confirmed(true));
    byId('confirm-cancel').addEventListener('click', () => this.confirmed(false));
    this.confirm.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.confirmed(false);
    });
    byId('reconnect').addEventListener('click', () => this.actions.reconnect());
    byId('load-older').addEventListener('click', () => this.state.loadOlder(this.state.currentKey));
    this.pane.addEventListener('scroll', () => this.maybeLoadOlder(), { passive: true });
    const toggle = byId<HTMLButtonElement>('people-toggle');
    toggle.addEventListener('click', () => {
      const open = this.members.classList.toggle('open');
      toggle.setAttribute('aria-expanded', String(open));
    });
    document.addEventListener('keydown', (event) => this.globalKey(event));
    // The rules as the server states them (its /nick help), so the prompt never disagrees with the server.
    const rules = COMMAND_CATALOGUE.find((c) => c.name === 'nick')?.help.replace(/^[^:]*:\s*/, '');
    if (rules !== undefined) byId('nick-rules').textContent = rules.charAt(0).toUpperCase() + rules.slice(1);
    try {
      this.nickInput.value = localStorage.getItem('mychat.nick') ?? '';
    } catch {
      // storage may be off; the prompt stays empty
    }
  }

  /** Redraws at the next frame (many events in a row cost one redraw). */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  /** Draws everything that may have changed. */
  render(): void {
    const s = this.state;
    const inChat = s.phase === 'chat' || ((s.phase === 'offline' || s.phase === 'registering' || s.phase === 'connecting') && this.wasInChat) || (s.phase === 'quit' && this.wasInChat);
    if (s.phase === 'chat' && !this.wasInChat) {
      this.wasInChat = true;
      try {
        localStorage.setItem('mychat.nick', s.nick);
      } catch {
        // not remembered; nothing else depends on it
      }
      this.app.hidden = false;
      this.login.hidden = true;
      this.input.focus();
    }
    if (!inChat) {
      this.renderLogin();
      return;
    }
    this.app.hidden = false;
    this.login.hidden = true;
    const c = s.current;
    this.title.textContent = visible(c.name);
    this.topic.textContent = visible(c.topic);
    this.topic.title = visible(c.topic);
    this.status.textContent = s.phase === 'chat' ? `${s.nick}` : s.phase === 'quit' ? 'Left the chat' : 'Reconnecting…';
    this.offline.hidden = s.phase === 'chat';
    this.offlineText.textContent = s.phase === 'quit' ? 'You left the chat. Reload the page to come back.' : this.offlineMessage;
    byId('reconnect').hidden = s.phase === 'quit';
    this.renderList();
    this.renderMembers(c);
    this.renderPane(c);
    this.renderConfirm();
    const unread = s.list().reduce((n, x) => n + x.unread, 0);
    document.title = `${unread > 0 ? `(${unread}) ` : ''}${visible(c.name)} – mychat`;
  }

  private renderLogin(): void {
    const s = this.state;
    this.app.hidden = true;
    this.login.hidden = false;
    this.loginStatus.textContent =
      s.phase === 'nick' ? `Connected to ${visible(s.serverName)}. Pick a nickname.` : s.phase === 'registering' ? 'Joining…' : s.phase === 'offline' ? this.offlineMessage || 'Not connected.' : 'Connecting…';
    this.nickError.textContent = visible(s.nickError);
    // Enabled while connecting too: a nickname sent before the server's hello is registered when it comes
    // (ChatState.submitNick). The page's HTML has it disabled until this script runs, since pressing Enter
    // in a form with no script behind it would reload the page and lose what was typed.
    this.loginButton.disabled = s.phase !== 'nick' && s.phase !== 'connecting' && s.phase !== 'offline';
    if (s.phase === 'nick' && document.activeElement !== this.nickInput) this.nickInput.focus();
  }

  private renderList(): void {
    const s = this.state;
    const signature = JSON.stringify([s.currentKey, s.list().map((c) => [c.key, c.name, c.unread, c.mentions])]);
    if (signature === this.listDrawn) return;
    this.listDrawn = signature;
    const focusedKey = (document.activeElement as HTMLElement | null)?.dataset?.key;
    const items = s.list().map((c, i) => {
      const li = el('li');
      const button = el('button', `conv kind-${c.kind}${c.unread > 0 ? ' unread' : ''}`);
      button.type = 'button';
      button.dataset.key = c.key;
      if (c.key === s.currentKey) button.setAttribute('aria-current', 'page');
      const label = c.kind === 'private' ? `@${c.name}` : c.name;
      button.append(el('span', 'name', label));
      if (c.unread > 0) button.append(el('span', 'badge unread', String(c.unread)));
      if (c.mentions > 0) button.append(el('span', 'badge mention', `!${c.mentions}`));
      const described = `${label}${c.unread > 0 ? `, ${c.unread} unread` : ''}${c.mentions > 0 ? `, ${c.mentions} for you` : ''}${i < 9 ? ` (Alt+${i + 1})` : ''}`;
      button.setAttribute('aria-label', visible(described));
      button.addEventListener('click', () => s.select(c.key));
      li.append(button);
      if (c.kind === 'private' || c.kind === 'search') {
        const close = el('button', 'close', '×');
        close.type = 'button';
        close.dataset.key = `close:${c.key}`;
        close.setAttribute('aria-label', visible(`Close ${label}`));
        close.addEventListener('click', () => s.close(c.key));
        li.append(close);
      }
      return li;
    });
    this.list.replaceChildren(...items);
    if (focusedKey !== undefined) this.list.querySelector<HTMLElement>(`[data-key="${CSS.escape(focusedKey)}"]`)?.focus();
  }

  private renderMembers(c: Conversation): void {
    if (c.members === this.membersDrawn) return;
    this.membersDrawn = c.members;
    const focused = (document.activeElement as HTMLElement | null)?.dataset?.member;
    byId('members-title').textContent = c.kind === 'room' ? `People (${c.members.length})` : 'People';
    this.memberList.replaceChildren(
      ...c.members.map((nick) => {
        const li = el('li');
        const button = el('button', '', nick);
        button.type = 'button';
        button.dataset.member = nick;
        button.title = visible(`Talk privately with ${nick}`);
        button.addEventListener('click', () => {
          this.state.submit(`/query ${nick}`);
          this.input.focus();
        });
        li.append(button);
        return li;
      }),
    );
    if (focused !== undefined) this.memberList.querySelector<HTMLElement>(`[data-member="${CSS.escape(focused)}"]`)?.focus();
  }

  private renderPane(c: Conversation): void {
    const entries = c.entries;
    const fromBottom = this.pane.scrollHeight - this.pane.scrollTop;
    const atBottom = fromBottom - this.pane.clientHeight < 40;
    const firstAt = entries.findIndex((e) => e.seq === this.shown.first);
    const lastAt = entries.findIndex((e) => e.seq === this.shown.last);
    const same = this.shown.key === c.key && this.shown.layout === c.layout && firstAt >= 0 && lastAt >= 0;
    if (!same) {
      this.entries.replaceChildren(...entries.map((e) => this.entry(e, c)));
      this.pane.scrollTop = this.pane.scrollHeight;
    } else {
      if (firstAt > 0) {
        this.entries.prepend(...entries.slice(0, firstAt).map((e) => this.entry(e, c)));
        // Keep what the reader looks at in place while older lines appear above it.
        this.pane.scrollTop = this.pane.scrollHeight - fromBottom;
      }
      if (lastAt < entries.length - 1) {
        this.entries.append(...entries.slice(lastAt + 1).map((e) => this.entry(e, c)));
        if (atBottom || entries[entries.length - 1]!.self === true) this.pane.scrollTop = this.pane.scrollHeight;
      }
    }
    this.shown = { key: c.key, layout: c.layout, first: entries[0]?.seq ?? -1, last: entries[entries.length - 1]?.seq ?? -1 };
    if (entries.length === 0) this.shown.first = this.shown.last = -2;
    this.older.hidden = c.kind !== 'room' || c.historyDone;
    byId<HTMLButtonElement>('load-older').textContent = c.loadingOlder ? 'Loading older messages…' : 'Load older messages';
    this.maybeLoadOlder();
  }

  /** Infinite scroll-back: near the top of a room's pane, the page before the oldest line is asked for. */
  private maybeLoadOlder(): void {
    const c = this.state.current;
    if (c.kind !== 'room' || c.historyDone || c.loadingOlder || this.pane.scrollTop > 150) return;
    this.state.loadOlder(c.key);
  }

  private entry(e: Entry, c: Conversation): HTMLLIElement {
    const li = el('li', `entry ${e.kind}${e.history === true ? ' history' : ''}${e.self === true ? ' self' : ''}${e.mention === true ? ' mention' : ''}`);
    if (e.at !== undefined) {
      const at = new Date(e.at);
      const time = el('time', '', c.kind === 'search' || e.history === true ? `${shortTime(at, new Date(0))}` : shortTime(at, new Date()));
      time.dateTime = e.at;
      time.title = longTime(at);
      li.append(time);
    }
    if (e.history === true && c.kind !== 'search') li.append(el('span', 'tag', 'history'));
    if (e.room !== undefined) li.append(el('span', 'tag', e.room));
    if (e.kind === 'message' || e.kind === 'action' || e.kind === 'paste') li.append(el('span', 'from', e.from ?? ''));
    if (e.kind === 'paste') {
      // Each line on its own: visible() would show the line feeds between them as symbols.
      const pre = el('pre');
      pre.textContent = e.text.split('\n').map(visible).join('\n');
      li.append(pre);
    } else if (e.kind === 'topic') {
      li.append(el('span', 'text', e.text === '' ? `${e.from ?? ''} cleared the topic` : `${e.from ?? ''} set the topic: ${e.text}`));
    } else {
      const text = el('span', 'text', e.text);
      text.dir = 'auto';
      li.append(text);
    }
    return li;
  }

  private renderConfirm(): void {
    const pending = this.state.pendingPaste;
    const wasHidden = this.confirm.hidden;
    this.confirm.hidden = pending === undefined;
    if (pending !== undefined && wasHidden) byId('confirm-send').focus();
  }

  private confirmed(send: boolean): void {
    if (send) {
      this.state.confirmPaste();
      this.input.value = '';
      this.grow();
    } else {
      this.state.cancelPaste();
    }
    this.confirmText.textContent = '';
    this.input.focus();
  }

  private submit(): void {
    const result = this.state.submit(this.input.value);
    if (result.ok) {
      this.input.value = '';
      this.completions.textContent = '';
      this.grow();
    } else if ('confirm' in result) {
      this.confirmText.textContent = result.confirm;
    } else {
      this.completions.textContent = visible(result.why);
    }
    this.render();
  }

  private inputKey(event: KeyboardEvent): void {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.submit();
    } else if (event.key === 'Tab' && !event.shiftKey && !event.altKey && !event.ctrlKey) {
      if (this.completeWord()) event.preventDefault();
    } else if (event.key === 'Escape') {
      this.completions.textContent = '';
      this.cycle = undefined;
    } else if (event.key === 'PageUp' || event.key === 'PageDown') {
      event.preventDefault();
      this.pane.scrollBy({ top: (event.key === 'PageUp' ? -0.9 : 0.9) * this.pane.clientHeight });
    }
  }

  /** Tab: completes the word before the cursor; true when it did something (otherwise Tab moves focus as usual). */
  private completeWord(): boolean {
    const value = this.input.value;
    if (this.cycle !== undefined) {
      const cycle = this.cycle;
      cycle.index = (cycle.index + 1) % cycle.candidates.length;
      const next = cycle.candidates[cycle.index]!;
      this.replace(cycle.from, cycle.to, next);
      cycle.to = cycle.from + next.length;
      return true;
    }
    if (value.trim() === '') return false;
    const s = this.state;
    const result = complete(value, this.input.selectionStart ?? value.length, { commands: COMMAND_NAMES, nicks: s.knownNicks(), rooms: s.knownRooms() });
    if (result.candidates.length === 0) return false;
    if (result.candidates.length === 1) {
      this.replace(result.from, result.to, result.candidates[0]!);
      this.completions.textContent = '';
      return true;
    }
    const prefix = commonPrefix(result.candidates);
    const typed = value.slice(result.from, result.to);
    this.completions.textContent = visible(result.candidates.map((c) => c.trim()).join('  '));
    if (prefix.length > typed.length) {
      this.replace(result.from, result.to, prefix);
    } else {
      this.cycle = { candidates: result.candidates, index: 0, from: result.from, to: result.to };
      this.replace(result.from, result.to, result.candidates[0]!);
      this.cycle.to = result.from + result.candidates[0]!.length;
    }
    return true;
  }

  private replace(from: number, to: number, text: string): void {
    const value = this.input.value;
    this.input.value = value.slice(0, from) + text + value.slice(to);
    const cursor = from + text.length;
    this.input.setSelectionRange(cursor, cursor);
  }

  private globalKey(event: KeyboardEvent): void {
    if (!event.altKey || event.ctrlKey || event.metaKey || this.app.hidden) return;
    const list = this.state.list();
    const at = list.findIndex((c) => c.key === this.state.currentKey);
    let target: Conversation | undefined;
    if (/^Digit[1-9]$/.test(event.code)) target = list[Number(event.code.slice(5)) - 1];
    else if (event.key === 'ArrowUp') target = list[(at - 1 + list.length) % list.length];
    else if (event.key === 'ArrowDown') target = list[(at + 1) % list.length];
    if (target === undefined) return;
    event.preventDefault();
    this.state.select(target.key);
    this.input.focus();
  }

  private grow(): void {
    this.input.rows = Math.min(8, Math.max(1, this.input.value.split('\n').length));
  }
}
