import { ChatError } from '../protocol/errors';
import { foldName, lookKeys } from '../protocol/text-hygiene';
import { addressPrefix } from '../core/address-prefix';
import type { Logger } from '../log';
import type { LocalNickRegistry } from '../core/nick-registry';
import type { NickRegistry } from '../core/ports/nick-registry';
import type { Session } from '../core/session';
import { CLAIM_SCRIPT, KEYS, RELEASE_SCRIPT, TIDY_SCRIPT } from './redis-keys';

/** Claims sent at once when re-asserting every local name after an outage. */
const REASSERT_BATCH = 500;

/** What the registry needs of the Redis connection: a command, and whether the link is up. */
export interface RedisCommands {
  /** True while commands can reach Redis (false during an outage: the registry then decides locally). */
  readonly ready: boolean;
  /** This process's instance id, unique across restarts (node id plus a random part). */
  readonly instance: string;
  /** Runs one Redis command. */
  command(args: string[]): Promise<unknown>;
}

/** The nickname hold settings, read at each release so a reload applies. */
export interface ClusterNickOptions {
  readonly nickHoldMs: number;
  readonly log: Logger;
}

/**
 * Nicknames unique across the cluster: this server's LocalNickRegistry judges first (reserved names, its
 * own users and holds, the shape), then one Lua script in Redis takes every look-alike key of the name at
 * once, or refuses it when a live node's user (or a hold for another address) has one of them. A node's
 * entries stay valid while its heartbeat key lives, so a node killed with kill -9 frees its users' names
 * within the lease. While Redis is unreachable, names are checked on this server only, and re-asserted
 * when it is back (a name another server gave out meanwhile is reported to its user here).
 */
export class ClusterNickRegistry implements NickRegistry<Session> {
  constructor(
    private readonly local: LocalNickRegistry,
    private readonly redis: RedisCommands,
    private readonly options: ClusterNickOptions,
  ) {}

  get size(): number {
    return this.local.size;
  }

  owners(): IterableIterator<Session> {
    return this.local.owners();
  }

  find(nick: string): Session | undefined {
    return this.local.find(nick);
  }

  claim(nick: string, owner: Session): void | Promise<void> {
    try {
      this.local.check(nick, owner);
    } catch (error) {
      // As on one server, a look-alike (often mixed-script too) is told which name it imitates: ask the
      // cluster for a clash before saying the name is invalid. The claim script takes nothing then.
      if (!(error instanceof ChatError) || error.code !== 'NICK_INVALID' || !this.redis.ready) throw error;
      return this.findClash(nick).then(
        (clash) => {
          throw clash ?? error;
        },
        () => {
          throw error;
        },
      );
    }
    if (!this.redis.ready) {
      this.takeLocally(nick, owner);
      return undefined;
    }
    const old = owner.nick;
    return this.claimRemote(nick, owner).then(
      (refusal) => {
        if (refusal !== undefined) throw refusal;
        // The connection went while Redis answered: nothing local will release the name, so give it back here.
        if (owner.state === 'closing') {
          this.releaseRemote(nick, owner, 0);
          return;
        }
        this.takeLocally(nick, owner);
        // Keys of the old name that the new one does not share are given up (renaming alice to Alice keeps them).
        if (old !== '' && foldName(old) !== foldName(nick)) this.releaseRemote(old, owner, 0);
      },
      (error: unknown) => {
        // Redis went away during the claim: decide here, as during any outage (re-asserted when it is back).
        this.options.log.log('debug', 'cluster-claim-failed', { nick, error: error instanceof Error ? error.message : String(error) });
        this.takeLocally(nick, owner);
      },
    );
  }

  release(nick: string, owner: Session, hold: boolean): void {
    if (this.local.find(nick) !== owner) return;
    this.local.release(nick, owner, hold);
    if (this.redis.ready) this.releaseRemote(nick, owner, hold ? this.options.nickHoldMs : 0);
  }

  /**
   * After Redis came back (or restarted empty): claims every local user's name again and removes entries
   * given up meanwhile. Returns the sessions whose name another node holds now (given out during the outage).
   */
  async reassert(): Promise<Session[]> {
    const clashes: Session[] = [];
    const sessions = [...this.local.owners()];
    const current = sessions.map((session) => `${session.id}\t${session.nick}`);
    // A few hundred claims in flight at a time: one round trip per batch, not per user.
    for (let at = 0; at < sessions.length; at += REASSERT_BATCH) {
      const batch = sessions.slice(at, at + REASSERT_BATCH);
      const refusals = await Promise.all(batch.map((session) => this.claimRemote(session.nick, session)));
      refusals.forEach((refusal, i) => {
        if (refusal !== undefined) clashes.push(batch[i]!);
      });
    }
    await this.redis.command(['EVAL', TIDY_SCRIPT, '1', KEYS.nicksOf(this.redis.instance), this.redis.instance, ...current]);
    return clashes;
  }

  /** The NICK_IN_USE error for a live user whose name shares a look key with `nick`, if any (read only). */
  private async findClash(nick: string): Promise<ChatError | undefined> {
    const keys = lookKeys(nick).map(KEYS.nick);
    const values = (await this.redis.command(['MGET', ...keys])) as Array<string | null>;
    for (const value of values) {
      const [kind, node, , holder] = value?.split('\t') ?? [];
      if (kind !== 'u' || holder === undefined || node === undefined) continue;
      if (Number(await this.redis.command(['EXISTS', KEYS.heartbeat(node)])) === 1) {
        return new ChatError('NICK_IN_USE', `The nickname ${nick} looks like ${holder}, who is online; pick another.`);
      }
    }
    return undefined;
  }

  /** Takes `nick` in this server's registry (after Redis said yes, or alone during an outage). */
  private takeLocally(nick: string, owner: Session): void {
    if (owner.state === 'closing') return;
    this.local.claim(nick, owner);
  }

  /** Runs the claim script; resolves with the refusal to throw, or undefined when the name is now ours. */
  private async claimRemote(nick: string, owner: Session): Promise<ChatError | undefined> {
    const keys = lookKeys(nick).map(KEYS.nick);
    const { instance } = this.redis;
    const args = [instance, String(owner.id), nick, addressPrefix(owner.remoteAddress), KEYS.heartbeatPrefix, KEYS.nicksOf(instance)];
    const reply = (await this.redis.command(['EVAL', CLAIM_SCRIPT, String(keys.length), ...keys, ...args])) as string[];
    const [verdict, holder = nick, ttl = '0'] = reply;
    if (verdict === 'OK') return undefined;
    if (verdict === 'HELD') {
      const seconds = Math.max(1, Math.ceil(Number(ttl) / 1000));
      return new ChatError('NICK_RESERVED', `The nickname ${holder} is held for someone who just disconnected, for ${seconds} more second${seconds === 1 ? '' : 's'}; pick another.`);
    }
    if (foldName(holder) === foldName(nick)) return new ChatError('NICK_IN_USE', `The nickname ${nick} is taken; pick another.`);
    return new ChatError('NICK_IN_USE', `The nickname ${nick} looks like ${holder}, who is online; pick another.`);
  }

  /** Gives `nick` up in Redis (with a hold of `holdMs` for the owner's address); failures only delay it to the next tidy. */
  private releaseRemote(nick: string, owner: Session, holdMs: number): void {
    const keys = lookKeys(nick).map(KEYS.nick);
    const { instance } = this.redis;
    const args = [instance, String(owner.id), nick, String(holdMs), addressPrefix(owner.remoteAddress), KEYS.nicksOf(instance)];
    this.redis.command(['EVAL', RELEASE_SCRIPT, String(keys.length), ...keys, ...args]).catch((error: unknown) => {
      this.options.log.log('debug', 'cluster-release-failed', { nick, error: error instanceof Error ? error.message : String(error) });
    });
  }
}
