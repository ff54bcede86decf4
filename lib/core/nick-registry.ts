import { ChatError } from '../protocol/errors';
import { foldName, lookKeys, nameKey, nickProblem, normaliseName } from '../protocol/text-hygiene';
import { addressPrefix } from './address-prefix';
import type { Clock } from './ports/clock';
import type { NickRegistry } from './ports/nick-registry';
import type { Session } from './session';

/** The settings the local registry reads on every claim, so a config reload applies at once. */
export interface NickRegistryOptions {
  readonly clock: Clock;
  /** Nicknames no one may take, nor anything that looks like them. */
  readonly reservedNicks: readonly string[];
  /** How long an abruptly released nickname stays held for its address (0: not at all). */
  readonly nickHoldMs: number;
  /** Bound on the number of holds (the connection limit). */
  readonly maxClients: number;
}

/**
 * A nickname held after an abrupt disconnect, for connections from `address` until `until`. Its lookKeys
 * are computed again when it goes rather than kept in an array.
 */
class NickHold {
  constructor(
    readonly nick: string,
    readonly address: string,
    readonly until: number,
  ) {}
}

/**
 * What a look-alike key is claimed by: the session using the nickname (its `nick` is the name; no claim
 * object per connection, which every idle connection would pay for), or a hold.
 */
type NickClaim = Session | NickHold;

/**
 * This process's nicknames: who has which (by foldName), every look-alike key of every taken or held name
 * (so a new name may imitate none), holds after abrupt disconnects, and the reserved names.
 */
export class LocalNickRegistry implements NickRegistry<Session> {
  private readonly byKey = new Map<string, Session>();
  /** lookKeys of every online or held nickname: a new nickname may share none of them. */
  private readonly claims = new Map<string, NickClaim>();
  /** Held nicknames by nameKey, in the order they were held, so expired ones are purged from the front. */
  private readonly holds = new Map<string, NickHold>();
  /** lookKeys of the reserved nicknames, rebuilt when the list changes (see reservedIndex). */
  private reserved: { list: readonly string[]; index: Map<string, string> } | undefined;

  constructor(private readonly options: NickRegistryOptions) {}

  get size(): number {
    return this.byKey.size;
  }

  owners(): IterableIterator<Session> {
    return this.byKey.values();
  }

  find(nick: string): Session | undefined {
    return this.byKey.get(foldName(nick));
  }

  claim(nick: string, owner: Session): void {
    const keys = lookKeys(nick);
    this.check(nick, owner, keys);
    if (owner.nick !== '' && this.byKey.get(foldName(owner.nick)) === owner) this.drop(owner.nick, owner);
    this.byKey.set(foldName(nick), owner);
    for (const key of keys) {
      const old = this.claims.get(key);
      if (old instanceof NickHold) this.dropHold(old);
    }
    for (const key of keys) this.claims.set(key, owner);
  }

  /**
   * Throws what claim would throw for `nick` (NICK_IN_USE, NICK_RESERVED, NICK_INVALID) without taking it:
   * a cluster registry asks this server first, then the others.
   */
  check(nick: string, owner: Session, keys: readonly string[] = lookKeys(nick)): void {
    // Clashes first, so a look-alike (often mixed-script or invisible too) is told which name it imitates.
    this.checkFree(owner, nick, keys);
    const problem = nickProblem(nick);
    if (problem !== undefined) throw new ChatError('NICK_INVALID', `Invalid nickname: ${problem}.`);
  }

  release(nick: string, owner: Session, hold: boolean): void {
    if (this.byKey.get(foldName(nick)) !== owner) return;
    this.drop(nick, owner);
    if (hold) this.hold(nick, owner.remoteAddress);
  }

  /** Removes `owner`'s entry and claims on `nick`. */
  private drop(nick: string, owner: Session): void {
    this.byKey.delete(foldName(nick));
    for (const key of lookKeys(nick)) if (this.claims.get(key) === owner) this.claims.delete(key);
  }

  /**
   * Throws NICK_IN_USE or NICK_RESERVED when `nick` (with its lookKeys `keys`) clashes with another
   * session's nickname, a nickname held for someone else, or a reserved name; the reply names that name.
   */
  private checkFree(session: Session, nick: string, keys: readonly string[]): void {
    const now = this.options.clock.now();
    this.purgeHolds(now);
    for (const key of keys) {
      const claim = this.claims.get(key);
      if (claim === undefined || claim === session) continue;
      if (claim instanceof NickHold) {
        if (claim.until <= now) {
          this.dropHold(claim);
          continue;
        }
        if (claim.address === addressPrefix(session.remoteAddress)) continue;
        const seconds = Math.ceil((claim.until - now) / 1000);
        throw new ChatError(
          'NICK_RESERVED',
          `The nickname ${claim.nick} is held for someone who just disconnected, for ${seconds} more second${seconds === 1 ? '' : 's'}; pick another.`,
        );
      }
      if (foldName(claim.nick) === foldName(nick)) throw new ChatError('NICK_IN_USE', `The nickname ${nick} is taken; pick another.`);
      throw new ChatError('NICK_IN_USE', `The nickname ${nick} looks like ${claim.nick}, who is online; pick another.`);
    }
    const reserved = this.reservedIndex();
    for (const key of keys) {
      const name = reserved.get(key);
      if (name === undefined) continue;
      if (foldName(name) === foldName(nick)) throw new ChatError('NICK_RESERVED', `The nickname ${name} is reserved; pick another.`);
      throw new ChatError('NICK_RESERVED', `The nickname ${nick} looks like the reserved name ${name}; pick another.`);
    }
  }

  /** The reserved names by lookKeys, rebuilt only when a reload gave a new list. */
  private reservedIndex(): Map<string, string> {
    const list = this.options.reservedNicks;
    if (this.reserved?.list !== list) {
      const index = new Map<string, string>();
      for (const raw of list) {
        const name = normaliseName(raw.trim());
        if (name !== '') for (const key of lookKeys(name)) index.set(key, name);
      }
      this.reserved = { list, index };
    }
    return this.reserved.index;
  }

  /** Holds `nick`, released by an abrupt disconnect, for nickHoldMs, for connections from `address`'s block only. */
  private hold(nick: string, address: string): void {
    if (this.options.nickHoldMs <= 0) return;
    const now = this.options.clock.now();
    this.purgeHolds(now);
    const key = nameKey(nick);
    const old = this.holds.get(key);
    if (old !== undefined) this.dropHold(old);
    // Holds come only from disconnects of registered users, which the connection limits bound; the cap
    // keeps memory bounded even under a storm of reconnects.
    while (this.holds.size >= Math.max(1, this.options.maxClients)) this.dropHold(this.holds.values().next().value!);
    const claim = new NickHold(nick, addressPrefix(address), now + this.options.nickHoldMs);
    this.holds.set(key, claim);
    for (const look of lookKeys(nick)) if (!this.claims.has(look)) this.claims.set(look, claim);
  }

  /** Forgets holds that have expired, oldest first (a hold made under a shorter --nick-hold may wait behind an older one). */
  private purgeHolds(now: number): void {
    for (const claim of this.holds.values()) {
      if (claim.until > now) break;
      this.dropHold(claim);
    }
  }

  private dropHold(claim: NickHold): void {
    this.holds.delete(nameKey(claim.nick));
    for (const key of lookKeys(claim.nick)) if (this.claims.get(key) === claim) this.claims.delete(key);
  }
}
