import { randomBytes } from 'node:crypto';
import type { createClient } from 'redis';
import type { Logger } from '../log';
import type { ChatCore, ChatCoreOptions } from '../core/chat-core';
import type { ChatEvent, PrivateEvent, TopicEvent, WhoisEvent } from '../core/events';
import { LocalNickRegistry } from '../core/nick-registry';
import type { ClusterPresence, RemoteRoom, RemoteUser } from '../core/ports/cluster-presence';
import type { RoomBus } from '../core/ports/room-bus';
import { notice } from '../core/replies';
import type { Room, Session } from '../core/session';
import { ClusterNickRegistry, type RedisCommands } from './cluster-nicks';
import { isRoomLine, parseRoomLine, parseWire, type NodeMessage, type PresenceMessage, type RoomLine } from './cluster-wire';
import { PresenceMirror, type MirroredUser, type UserState } from './presence-mirror';
import { KEYS, REAP_SCRIPT, TOPIC_GET_SCRIPT, TOPIC_RENEW_MS, TOPIC_RENEW_SCRIPT, TOPIC_SET_SCRIPT, TOPIC_TTL_MS } from './redis-keys';
import type { RedisLayout } from './redis-layout';

/** Settings of a node of a cluster. */
export interface RedisClusterOptions {
  /** redis:// or rediss:// URL of the shared Redis. */
  url: string;
  /** Name of this node in logs (the instance id adds a random part, so a restarted node is a new instance). */
  nodeId: string;
  /** How long a node's heartbeat, and so its users' nicknames, outlive it: renewed every third of it. */
  leaseMs: number;
  layout: RedisLayout;
  log: Logger;
  /**
   * When the history store is shared by the nodes (PostgreSQL), resolves once everything it queued so far
   * is written, or cannot be (an outage); undefined when nothing is waiting. A turn's lines are published
   * after it, so a line that another node shows is already in the database, and a user joining there
   * right after it finds it in the replay (the local users see it at once, as before).
   */
  stored?: () => Promise<void> | undefined;
}

/** How long /whois waits for another node's answer before answering from what this node knows. */
const WHOIS_TIMEOUT_MS = 1000;

/**
 * Longest wait for the link of a room (its channel subscribed, its topic read) before the first member here
 * is answered anyway: a Redis that stalls without closing the connection must not stall joins for long.
 */
const LINK_TIMEOUT_MS = 1000;

/**
 * Longest a turn's lines wait for the shared history store before they are published anyway (see
 * RedisClusterOptions.stored): a database that stalls without failing delays other nodes' lines by at most
 * this, and the lines waiting meanwhile are at most this long a stretch of chat.
 */
const STORED_WAIT_MS = 1000;

/** Most commands waiting for Redis; past it they fail at once (counted as not delivered), so memory stays bounded. */
const MAX_QUEUED_COMMANDS = 100_000;

/** Longest wait between two reconnection attempts. */
const MAX_BACKOFF_MS = 5000;

/** Resolves when `promise` settles or after `ms`, whichever comes first. */
function boundedWait(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return Promise.race([promise.catch(() => undefined), late]).finally(() => clearTimeout(timer));
}

/** Time between reconnection attempts: 100 ms doubling to MAX_BACKOFF_MS, with jitter so nodes do not all come at once. */
export function reconnectDelay(retries: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(retries, 16));
  return Math.round(base / 2 + (random() * base) / 2);
}

/** The sentence users get, once per outage, when what they say cannot reach the other servers. */
const DEGRADED_TEXT =
  'Cross-server delivery is degraded: this server has lost the cluster link (Redis), so people on other servers do not see what you say and you do not see them; people on this server still do. Reconnecting; you will be told when it is back.';
const RESTORED_TEXT = 'Cross-server delivery is back: you see and reach people on the other servers again. What was said meanwhile on either side was not carried over.';

/**
 * One mychatd node of a cluster sharing a Redis: its RoomBus (room lines go to the room's members here and,
 * through Redis pub/sub, on the other nodes), its ClusterPresence (a mirror of everyone else, fed by the
 * presence channel) and its nickname registry (ClusterNickRegistry). Redis down: each node keeps serving
 * its own users, tells the affected ones once, reconnects with backoff, and re-asserts its heartbeat,
 * nicknames and presence when Redis is back. Delivery across nodes is at most once: nothing is queued
 * or re-sent across an outage, so nothing arrives twice.
 */
export class RedisCluster implements RoomBus, ClusterPresence, RedisCommands {
  readonly instance: string;
  readonly mirror = new PresenceMirror();
  /** Room lines published to Redis, received from other nodes, and not sent because the link was down. */
  readonly stats = { published: 0, received: 0, undelivered: 0 };
  private core: ChatCore | undefined;
  private nicks: ClusterNickRegistry | undefined;
  private readonly cmd: ReturnType<typeof createClient>;
  private readonly sub: ReturnType<typeof createClient>;
  /** Prefix of every message this node publishes, so it skips its own without parsing them. */
  private readonly selfPrefix: string;
  private up = false;
  private everUp = false;
  private recovering = false;
  private closed = false;
  /** Counts outages, so each session is told once per outage; outageAt is when the current one began. */
  private outage = 0;
  private outageAt = 0;
  private readonly told = new WeakMap<Session, number>();
  private readonly toldNow = new Set<Session>();
  private readonly departedSessions = new WeakSet<Session>();
  private readonly whoisWaiting = new Map<number, (event: WhoisEvent | null) => void>();
  private nextWhois = 1;
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  /** Messages to publish at the end of this event-loop turn, per channel (each channel's in order). */
  private readonly outbox = new Map<string, string[]>();
  private flushScheduled = false;
  /** The newest turn's publishes waiting for the history store (see RedisClusterOptions.stored); later turns queue behind it. */
  private publishing: Promise<void> | undefined;
  /** Joins waiting for other nodes' acks (see link): the nodes still to answer, and what to call when none is left. */
  private readonly ackWaiting = new Map<number, { nodes: Set<string>; done: () => void }>();
  private nextAck = 1;
  /** Rooms whose link is being made (see link): later joiners here wait for the same one. */
  private readonly linking = new Map<Room, Promise<void>>();
  /** Version of each room's topic as last seen (see TOPIC_SET_SCRIPT); reset when Redis may have restarted. */
  private topicVersions = new WeakMap<Room, number>();
  /** Where the next heartbeat goes on renewing topics in the rooms' list (see renewTopics). */
  private renewCursor = 0;

  constructor(private readonly options: RedisClusterOptions) {
    this.instance = `${options.nodeId}-${randomBytes(4).toString('hex')}`;
    this.selfPrefix = `${this.instance}\n`;
    // Loaded here, not at the top: the daemon imports this module either way, and a server running alone
    // should not pay for loading the Redis client at every start.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const redis = require('redis') as { createClient: typeof createClient };
    this.cmd = redis.createClient({
      url: options.url,
      // During an outage a command fails at once instead of waiting: lines are not delivered late (or twice).
      disableOfflineQueue: true,
      commandsQueueMaxLength: MAX_QUEUED_COMMANDS,
      // node-redis 6 arms a timer (AbortSignal.timeout) per command by default: at thousands of lines a
      // second that timer cost more than the command. The heartbeat has its own timeout (see beat).
      commandOptions: { timeout: 0 },
      socket: { reconnectStrategy: (retries) => reconnectDelay(retries), connectTimeout: 2000 },
    });
    // The subscriber keeps its subscriptions across reconnects (node-redis subscribes again by itself).
    this.sub = this.cmd.duplicate();
  }

  /** The node's nickname registry, judging with a LocalNickRegistry that reads the core's live options. */
  nickRegistry(options: () => ChatCoreOptions): ClusterNickRegistry {
    const local = new LocalNickRegistry({
      get clock() {
        return options().clock;
      },
      get reservedNicks() {
        return options().reservedNicks;
      },
      get nickHoldMs() {
        return options().nickHoldMs;
      },
      get maxClients() {
        return options().maxClients;
      },
    });
    this.nicks = new ClusterNickRegistry(local, this, {
      get nickHoldMs() {
        return options().nickHoldMs;
      },
      log: this.options.log,
    });
    return this.nicks;
  }

  /** Connects to Redis (in the background: the node serves its own users meanwhile) and starts the heartbeat. */
  start(core: ChatCore): void {
    this.core = core;
    for (const client of [this.cmd, this.sub]) {
      client.on('error', (error: Error) => {
        this.options.log.log('debug', 'cluster-redis-error', { error: error.message });
        // Unreachable from the start: say so once, as for an outage.
        if (!this.up && this.outageAt === 0 && !this.closed) this.degrade();
        this.linkChanged();
      });
      client.on('ready', () => this.linkChanged());
      client.on('end', () => this.linkChanged());
      client.on('reconnecting', () => this.linkChanged());
      client.connect().catch(() => undefined);
    }
    void this.sub.subscribe(KEYS.presenceChannel, (message) => this.onPresence(message));
    void this.sub.subscribe(KEYS.nodeChannel(this.instance), (message) => this.onNodeMessage(message));
    this.timer = setInterval(() => void this.beat(), this.beatMs);
    this.timer.unref();
    this.options.log.log('info', 'cluster-starting', { node: this.options.nodeId, instance: this.instance, layout: this.options.layout, leaseMs: this.options.leaseMs });
  }

  /** True while the link is up and this node's heartbeat and names are asserted. */
  get ready(): boolean {
    return this.up;
  }

  command(args: string[]): Promise<unknown> {
    return this.cmd.sendCommand(args);
  }

  /** Leaves the cluster cleanly (others forget this node's users at once) and closes the connections. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.up) {
      this.send(KEYS.presenceChannel, { t: 'bye', n: this.instance });
      await Promise.allSettled([this.command(['DEL', KEYS.heartbeat(this.instance)]), this.command(['SREM', KEYS.nodes, this.instance])]);
    }
    await Promise.allSettled([this.cmd.close(), this.sub.close()]);
  }

  // RoomBus

  publish(room: Room, event: ChatEvent, except?: Session): void {
    room.broadcast(event, except);
    // Joins and parts reach other nodes as presence (every node keeps counts, members there or not).
    if (!isRoomLine(event)) return;
    if (event.type === 'topic') {
      this.publishTopic(room, event, except);
      return;
    }
    const remote = this.mirror.room(room.key);
    if (remote === undefined) return;
    const line: RoomLine = { n: this.instance, k: room.key, e: event };
    let sent: boolean;
    if (this.options.layout === 'room') sent = this.send(KEYS.roomChannel(room.key), line);
    else {
      sent = true;
      for (const node of this.mirror.roomNodes(room.key) ?? []) sent = this.send(KEYS.nodeChannel(node), { t: 'line', ...line }) && sent;
    }
    if (sent) this.stats.published++;
    else {
      this.stats.undelivered++;
      this.tellDegraded(except);
    }
  }

  // ClusterPresence: what this node's users do

  registered(session: Session): void {
    this.send(KEYS.presenceChannel, { t: 'up', n: this.instance, s: session.id, nick: session.nick, at: session.connectedAt });
  }

  joined(session: Session, room: Room, shown: boolean): Promise<void> | undefined {
    const first = room.members.size === 1;
    // The first member here: the nodes that have the room must learn it before they publish for this node.
    const nodes = first && this.up ? new Set(this.mirror.roomNodes(room.key) ?? []) : new Set<string>();
    const ack = nodes.size > 0 ? this.nextAck++ : undefined;
    this.send(KEYS.presenceChannel, { t: 'join', n: this.instance, s: session.id, k: room.key, r: room.name, show: shown, ack });
    if (first) this.link(room, ack, nodes);
    return this.linking.get(room);
  }

  refreshTopic(room: Room): Promise<void> | undefined {
    if (!this.up) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, LINK_TIMEOUT_MS)));
    return Promise.race([this.loadTopic(room), late])
      .catch(() => undefined)
      .finally(() => clearTimeout(timer));
  }

  left(session: Session, room: Room, event: ChatEvent | undefined): void {
    if (room.members.size === 0 && this.options.layout === 'room') this.unsubscribeRoom(room.key);
    // A departing session's rooms go with its quit.
    if (this.departedSessions.has(session)) return;
    const reason = event?.type === 'part' ? event.reason : undefined;
    this.send(KEYS.presenceChannel, { t: 'part', n: this.instance, s: session.id, k: room.key, reason });
  }

  renamed(session: Session, _from: string, shownRooms: readonly Room[]): void {
    this.send(KEYS.presenceChannel, { t: 'nick', n: this.instance, s: session.id, to: session.nick, show: shownRooms.map((room) => room.key) });
  }

  departed(session: Session, reason: string, shownRooms: readonly Room[]): void {
    this.departedSessions.add(session);
    this.toldNow.delete(session);
    this.send(KEYS.presenceChannel, { t: 'quit', n: this.instance, s: session.id, reason, show: shownRooms.map((room) => room.key) });
  }

  // ClusterPresence: what this node knows of the others

  get remoteUserCount(): number {
    return this.mirror.userCount;
  }

  remoteUsers(): IterableIterator<RemoteUser> {
    return this.mirror.users();
  }

  remoteRoom(roomKey: string): RemoteRoom | undefined {
    return this.mirror.room(roomKey);
  }

  remoteRooms(): IterableIterator<RemoteRoom> {
    return this.mirror.allRooms();
  }

  findRemote(nick: string): RemoteUser | undefined {
    return this.mirror.find(nick);
  }

  sendPrivate(to: RemoteUser, event: PrivateEvent, sender: Session): void {
    const node = (to as MirroredUser).node;
    if (!this.send(KEYS.nodeChannel(node), { t: 'pm', to: to.nick, e: event })) this.tellDegraded(sender);
  }

  whois(user: RemoteUser): Promise<WhoisEvent> {
    const fallback: WhoisEvent = { type: 'whois', nick: user.nick, rooms: user.roomNames(), connectedAt: user.connectedAt, idleSeconds: 0 };
    const id = this.nextWhois++;
    if (!this.send(KEYS.nodeChannel((user as MirroredUser).node), { t: 'whois?', id, from: this.instance, nick: user.nick })) return Promise.resolve(fallback);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.whoisWaiting.delete(id);
        resolve(fallback);
      }, WHOIS_TIMEOUT_MS);
      this.whoisWaiting.set(id, (event) => {
        clearTimeout(timer);
        this.whoisWaiting.delete(id);
        resolve(event ?? fallback);
      });
    });
  }

  // The link

  /**
   * Queues `message` for `channel` if the link is up (false when it is not: nothing is kept for later).
   * Everything a turn sends to one channel leaves as one PUBLISH of a JSON array at the end of the turn,
   * as the transports write a turn's lines to a socket at once: under load one command carries many lines.
   */
  private send(channel: string, message: object): boolean {
    if (!this.up) return false;
    const queued = this.outbox.get(channel);
    if (queued === undefined) this.outbox.set(channel, [JSON.stringify(message)]);
    else queued.push(JSON.stringify(message));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
    return true;
  }

  /**
   * Publishes what the turn queued, one command per channel: at once, or once the history store has
   * written what was queued before (see RedisClusterOptions.stored), behind any earlier turn still waiting,
   * so each channel's lines keep their order.
   */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    const stored = this.options.stored?.();
    if (stored === undefined && this.publishing === undefined) {
      this.publishBatch(this.outbox);
      this.outbox.clear();
      return;
    }
    // Kept for later: the outbox is the next turn's from now on.
    const batch = [...this.outbox];
    this.outbox.clear();
    const waited = stored === undefined ? undefined : boundedWait(stored, STORED_WAIT_MS);
    const chain = (this.publishing ?? Promise.resolve()).then(() => waited).then(() => this.publishBatch(batch));
    this.publishing = chain;
    void chain.finally(() => {
      if (this.publishing === chain) this.publishing = undefined;
    });
  };

  private publishBatch(batch: Iterable<[string, string[]]>): void {
    for (const [channel, messages] of batch) {
      this.command(['PUBLISH', channel, `${this.selfPrefix}[${messages.join(',')}]`]).catch(() => {
        this.stats.undelivered += messages.length;
      });
    }
  }

  /**
   * Links this node to a room it just got its first member of: subscribes to the room's channel (layout
   * `room`) and, once Redis confirmed it, reads the room's topic; meanwhile the nodes that have the room
   * (`nodes`) answer the join's `ack` once they know this node is in it. After both, a line said anywhere
   * later reaches this node: its node publishes it for this node, after the subscription. The topic read
   * after the subscription is at least as new as any change published before it, and versions order it
   * against changes in flight. Joins wait for the link (bounded by LINK_TIMEOUT_MS); during an outage they
   * do not wait at all (node-redis subscribes again when Redis is back).
   */
  private link(room: Room, ack: number | undefined, nodes: Set<string>): void {
    const subscribed = this.options.layout === 'room' ? this.sub.subscribe(KEYS.roomChannel(room.key), this.onRoomLine) : Promise.resolve();
    if (!this.up) {
      subscribed.catch(() => undefined);
      return;
    }
    const acked = ack === undefined ? undefined : new Promise<void>((done) => this.ackWaiting.set(ack, { nodes, done }));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.options.log.log('warn', 'cluster-link-slow', {
          room: room.name,
          waitingFor: [...nodes].join(',') || undefined,
          note: `the room's subscription, topic or acks took more than ${LINK_TIMEOUT_MS} ms: answering the join anyway`,
        });
        resolve();
      }, LINK_TIMEOUT_MS);
    });
    const linked: Promise<void> = Promise.race([Promise.all([subscribed.then(() => this.loadTopic(room)), acked]), late])
      .then(
        () => undefined,
        (error: unknown) => {
          this.options.log.log('debug', 'cluster-link-failed', { room: room.name, error: error instanceof Error ? error.message : String(error) });
        },
      )
      .finally(() => {
        clearTimeout(timer);
        if (ack !== undefined) this.ackWaiting.delete(ack);
        if (this.linking.get(room) === linked) this.linking.delete(room);
      });
    this.linking.set(room, linked);
  }

  /** Offers Redis the topics of all this node's rooms at once (it restarted empty, or this node brings rooms of its own). */
  private seedTopics(): void {
    for (const room of this.core?.rooms.all() ?? []) if (room.topic !== '') this.offerTopic(room);
  }

  /**
   * Keeps the room's topic in Redis for TOPIC_TTL_MS more, or stores this node's if Redis has none, with
   * the version last seen here (1 after Redis restarted: versions were reset then).
   */
  private offerTopic(room: Room): void {
    const version = String(this.topicVersions.get(room) ?? 1);
    this.command(['EVAL', TOPIC_RENEW_SCRIPT, '1', KEYS.topic(room.key), room.topic, room.topicBy, String(room.topicAt), version, String(TOPIC_TTL_MS)]).catch(() => undefined);
  }

  /**
   * Renews, at each heartbeat, the Redis topics of the next few of this node's rooms: enough that every room
   * is renewed within TOPIC_RENEW_MS (one room per heartbeat below about 26 000 rooms), so the cost is
   * spread evenly. Without it a topic nobody set or read for 30 days went from Redis, and a node that had
   * never had the room showed its next joiner no topic while the others still had one. A topic Redis has
   * lost is offered again by the first node to renew it (TOPIC_RENEW_SCRIPT).
   */
  private renewTopics(): void {
    const rooms = this.core?.rooms.all() ?? [];
    if (rooms.length === 0) return;
    const quota = Math.min(rooms.length, Math.ceil((rooms.length * this.beatMs) / TOPIC_RENEW_MS));
    for (let i = 0; i < quota; i++) {
      if (this.renewCursor >= rooms.length) this.renewCursor = 0;
      this.offerTopic(rooms[this.renewCursor++]!);
    }
  }

  /** Takes the room's topic from Redis when it is newer than the one this node has. */
  private async loadTopic(room: Room): Promise<void> {
    const [text, by, at, v] = (await this.command(['EVAL', TOPIC_GET_SCRIPT, '1', KEYS.topic(room.key), String(TOPIC_TTL_MS)])) as Array<string | null>;
    const version = Number(v ?? 0);
    if (typeof text !== 'string' || !(version > (this.topicVersions.get(room) ?? 0))) return;
    this.topicVersions.set(room, version);
    room.topic = text;
    room.topicBy = by ?? '';
    room.topicAt = Number(at) || Date.now();
  }

  /**
   * Stores a topic change in Redis and publishes it to the nodes that have the room, in one script (so
   * the version it carries is the stored one). Every topic is stored, room shared or not: a node that
   * gets its first member of the room later reads it there (see link).
   */
  private publishTopic(room: Room, event: TopicEvent, except: Session | undefined): void {
    if (!this.up) {
      if (this.mirror.room(room.key) !== undefined) {
        this.stats.undelivered++;
        this.tellDegraded(except);
      }
      return;
    }
    const line: RoomLine = { n: this.instance, k: room.key, e: event };
    const byRoom = this.options.layout === 'room';
    const channels = byRoom ? [KEYS.roomChannel(room.key)] : [...(this.mirror.roomNodes(room.key) ?? [])].map(KEYS.nodeChannel);
    const item = JSON.stringify(byRoom ? line : { t: 'line', ...line });
    // What this turn queued for the room before the topic leaves first: Redis runs one connection's commands in order.
    this.flush();
    const args = [event.text, event.by, String(room.topicAt), String(TOPIC_TTL_MS), `${this.selfPrefix}[${item.slice(0, -1)},"v":`, '}]', ...channels];
    this.command(['EVAL', TOPIC_SET_SCRIPT, '1', KEYS.topic(room.key), ...args]).then(
      (v) => {
        if (Number(v) > (this.topicVersions.get(room) ?? 0)) this.topicVersions.set(room, Number(v));
      },
      () => {
        this.stats.undelivered++;
      },
    );
    this.stats.published++;
  }

  private unsubscribeRoom(key: string): void {
    this.sub.unsubscribe(KEYS.roomChannel(key), this.onRoomLine).catch(() => undefined);
  }

  /** Reacts to either connection going down or coming back. */
  private linkChanged(): void {
    if (this.closed) return;
    const both = this.cmd.isReady && this.sub.isReady;
    if (!both && this.up) this.degrade();
    else if (both && !this.up && !this.recovering) void this.recover();
  }

  /** The link went down: this node goes on alone; the users who lose someone are told once. */
  private degrade(): void {
    this.up = false;
    this.outage++;
    this.outageAt = Date.now();
    this.options.log.log('warn', 'cluster-degraded', { node: this.options.nodeId, note: 'Redis unreachable: serving local users only, reconnecting' });
    const core = this.core;
    if (core === undefined) return;
    for (const session of core.nicks.owners()) {
      if (session.rooms.some((room) => this.mirror.room(room.key) !== undefined)) this.tellDegraded(session);
    }
  }

  /** The link is back: heartbeat, nicknames and presence are asserted again, then lines flow. */
  private async recover(): Promise<void> {
    this.recovering = true;
    try {
      await this.heartbeat();
      const clashes = (await this.nicks?.reassert()) ?? [];
      if (!(this.cmd.isReady && this.sub.isReady) || this.closed) return;
      this.up = true;
      const first = !this.everUp;
      this.everUp = true;
      this.options.log.log(first ? 'info' : 'warn', first ? 'cluster-ready' : 'cluster-recovered', {
        node: this.options.nodeId,
        outageMs: first ? undefined : Date.now() - this.outageAt,
        clashes: clashes.length || undefined,
      });
      this.outageAt = Date.now();
      void this.checkSubscriberLimit();
      // Redis may have restarted empty, counting topic versions from 1 again: offer the topics known here.
      this.topicVersions = new WeakMap();
      this.seedTopics();
      // Others may have missed what happened here, and this node what happened there: exchange full states.
      this.send(KEYS.presenceChannel, { t: 'state', n: this.instance, users: this.localState() });
      this.send(KEYS.presenceChannel, { t: 'sync', n: this.instance });
      for (const session of this.toldNow) session.deliver(notice(RESTORED_TEXT));
      this.toldNow.clear();
      for (const session of clashes) {
        session.deliver(notice(`Your nickname ${session.nick} was given to someone on another server while the servers were apart; please pick another with /nick.`));
      }
    } catch (error) {
      this.options.log.log('debug', 'cluster-recover-failed', { error: error instanceof Error ? error.message : String(error) });
    } finally {
      this.recovering = false;
    }
  }

  /**
   * Warns when Redis would buffer without bound for a subscriber that falls behind (its pub/sub output
   * limit is off): that limit is what cuts off a node too slow to follow its rooms (it then reconnects as
   * after an outage), before Redis's memory grows with it. A Redis that refuses CONFIG is not judged.
   */
  private async checkSubscriberLimit(): Promise<void> {
    try {
      // node-redis answers CONFIG GET as an object (name: value), or as a flat array under RESP2 on older versions.
      const reply = (await this.command(['CONFIG', 'GET', 'client-output-buffer-limit'])) as Record<string, string> | string[];
      const value = Array.isArray(reply) ? reply[1] : reply['client-output-buffer-limit'];
      const limits = /pubsub (\d+) (\d+) (\d+)/.exec(value ?? '');
      if (limits !== null && limits[1] === '0' && limits[2] === '0') {
        this.options.log.log('warn', 'cluster-redis-unbounded', {
          note: 'Redis has no client-output-buffer-limit for pub/sub: a node that falls behind makes Redis buffer without bound; set e.g. "pubsub 32mb 8mb 60"',
        });
      }
    } catch (error) {
      this.options.log.log('debug', 'cluster-config-unreadable', { error: error instanceof Error ? error.message : String(error) });
    }
  }

  /**
   * Renews this node's heartbeat and membership of the node set. Rejects when Redis does not answer within
   * a third of the lease: a Redis that stalls without closing the connection is an outage too.
   */
  private async heartbeat(): Promise<void> {
    const renew = Promise.all([
      this.command(['SET', KEYS.heartbeat(this.instance), this.options.nodeId, 'PX', String(this.options.leaseMs)]),
      this.command(['SADD', KEYS.nodes, this.instance]),
    ]);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('Redis did not answer the heartbeat in time')), this.beatMs);
    });
    try {
      await Promise.race([renew, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Milliseconds between two heartbeats: a third of the lease. */
  private get beatMs(): number {
    return Math.max(100, Math.floor(this.options.leaseMs / 3));
  }

  /** Every lease/3: renews the heartbeat, and forgets nodes whose heartbeat is gone (their users quit here). */
  private async beat(): Promise<void> {
    if (!this.up) {
      // A failed recovery (e.g. Redis still loading) is tried again while both connections are ready.
      this.linkChanged();
      return;
    }
    if (this.beating) return;
    this.beating = true;
    try {
      await this.heartbeat();
      this.renewTopics();
      const members = (await this.command(['SMEMBERS', KEYS.nodes])) as string[];
      const others = [...new Set([...members, ...this.mirror.nodeIds()])].filter((node) => node !== this.instance);
      const alive = await Promise.all(others.map((node) => this.command(['EXISTS', KEYS.heartbeat(node)])));
      others.forEach((node, i) => {
        if (Number(alive[i]) === 0) this.nodeLost(node);
      });
    } catch (error) {
      this.options.log.log('debug', 'cluster-beat-failed', { error: error instanceof Error ? error.message : String(error) });
      // Connected but not answering: go on alone until a heartbeat succeeds again (see linkChanged).
      if (this.up && this.cmd.isReady) this.degrade();
    } finally {
      this.beating = false;
    }
  }

  /** A node's heartbeat expired (killed, frozen or cut off): its users quit for everyone here, and its entries go. */
  private nodeLost(node: string): void {
    const users = [...this.mirror.users()].filter((user) => user.node === node).map((user) => ({ nick: user.nick, rooms: [...user.rooms.keys()] }));
    this.mirror.dropNode(node);
    for (const user of users) {
      const event: ChatEvent = { type: 'quit', nick: user.nick, reason: 'Server lost' };
      for (const peer of this.peers(user.rooms, true)) peer.deliver(event);
    }
    this.options.log.log('warn', 'cluster-node-lost', { node, users: users.length });
    this.command(['SREM', KEYS.nodes, node]).catch(() => undefined);
    this.command(['EVAL', REAP_SCRIPT, '1', KEYS.nicksOf(node), node]).catch(() => undefined);
  }

  /** Tells `session`, once per outage, that cross-node delivery is down. */
  private tellDegraded(session: Session | undefined): void {
    if (session === undefined || session.state !== 'registered' || this.told.get(session) === this.outage) return;
    this.told.set(session, this.outage);
    this.toldNow.add(session);
    session.deliver(notice(DEGRADED_TEXT));
  }

  /** This node's users, for a full-state message. */
  private localState(): UserState[] {
    const users: UserState[] = [];
    for (const session of this.core?.nicks.owners() ?? []) {
      if (session.state !== 'registered') continue;
      users.push({ sid: session.id, nick: session.nick, at: session.connectedAt, rooms: session.rooms.map((room) => [room.key, room.name]) });
    }
    return users;
  }

  /** This node's members of the rooms with keys `keys`, each once (only rooms not large when `skipLarge`). */
  private peers(keys: readonly string[], skipLarge = false): Set<Session> {
    const peers = new Set<Session>();
    for (const key of keys) {
      const room = this.core?.rooms.get(key);
      if (room === undefined || (skipLarge && this.core!.rooms.isLarge(room))) continue;
      for (const member of room.members) peers.add(member);
    }
    return peers;
  }

  /**
   * The messages of a publish from another node, as JSON texts; none for this node's own publishes (Redis
   * sends a publisher's message back to it too, and the instance prefix skips them without parsing).
   */
  private foreign(message: string): unknown[] {
    if (message.startsWith(this.selfPrefix)) return [];
    const at = message.indexOf('\n');
    if (at < 0) return [];
    try {
      const batch = JSON.parse(message.slice(at + 1)) as unknown;
      return Array.isArray(batch) ? batch : [];
    } catch {
      return [];
    }
  }

  private readonly onRoomLine = (message: string): void => {
    for (const item of this.foreign(message)) {
      const line = parseRoomLine(item);
      if (line !== undefined) this.deliverLine(line);
    }
  };

  /** Hands a room line from another node to this node's members of the room: one event object for all. */
  private deliverLine(line: RoomLine): void {
    this.stats.received++;
    const room = this.core?.rooms.get(line.k);
    if (room === undefined || room.members.size === 0) return;
    let event = line.e;
    if (event.type === 'topic') {
      // An older change than the topic this node has (read at link time while the change was in flight) is stale.
      if (line.v !== undefined) {
        if (line.v <= (this.topicVersions.get(room) ?? 0)) return;
        this.topicVersions.set(room, line.v);
      }
      room.topic = event.text;
      room.topicBy = event.by;
      room.topicAt = Date.now();
    }
    // The room's display name may differ in case on this node (names are unique by key, shown as first created).
    if (event.room !== room.name) event = { ...event, room: room.name };
    room.broadcast(event);
  }

  private onPresence(message: string): void {
    for (const item of this.foreign(message)) {
      const m = parseWire<PresenceMessage>(item);
      if (m !== undefined && m.n !== this.instance) this.presence(m);
    }
  }

  /** Applies one presence message from another node to the mirror, and tells this node's members what they should see. */
  private presence(m: PresenceMessage): void {
    const mirror = this.mirror;
    switch (m.t) {
      case 'up':
        mirror.up(m.n, m.s, m.nick, m.at);
        return;
      case 'sync':
        this.send(KEYS.nodeChannel(m.n), { t: 'state', n: this.instance, users: this.localState() });
        return;
      case 'state':
        mirror.replaceNode(m.n, m.users);
        return;
      case 'bye':
        mirror.dropNode(m.n);
        return;
    }
    const user = mirror.user(m.n, m.s);
    if (user === undefined) return;
    switch (m.t) {
      case 'join': {
        mirror.join(user, m.k, m.r);
        // Known here from now on: this node's later lines in the room are published for the joiner's node.
        if (m.ack !== undefined) this.send(KEYS.nodeChannel(m.n), { t: 'ack', n: this.instance, id: m.ack });
        const room = this.core?.rooms.get(m.k);
        if (m.show && room !== undefined && room.members.size > 0) room.broadcast({ type: 'join', room: room.name, nick: user.nick });
        return;
      }
      case 'part': {
        mirror.part(user, m.k);
        const room = this.core?.rooms.get(m.k);
        if (m.reason !== undefined && room !== undefined && room.members.size > 0) room.broadcast({ type: 'part', room: room.name, nick: user.nick, reason: m.reason });
        return;
      }
      case 'nick': {
        const event: ChatEvent = { type: 'nick', from: user.nick, to: m.to };
        mirror.rename(user, m.to);
        for (const peer of this.peers(m.show)) peer.deliver(event);
        return;
      }
      case 'quit': {
        mirror.down(user);
        const event: ChatEvent = { type: 'quit', nick: user.nick, reason: m.reason };
        for (const peer of this.peers(m.show)) peer.deliver(event);
        return;
      }
    }
  }

  private onNodeMessage(message: string): void {
    for (const item of this.foreign(message)) {
      const m = parseWire<NodeMessage | ({ t: 'line' } & RoomLine)>(item);
      if (m !== undefined) this.nodeMessage(m);
    }
  }

  /** Handles one message sent to this node alone. */
  private nodeMessage(m: NodeMessage | ({ t: 'line' } & RoomLine)): void {
    switch (m.t) {
      case 'line': {
        const line = parseRoomLine(m);
        if (line !== undefined) this.deliverLine(line);
        return;
      }
      case 'pm':
        this.core?.nicks.find(m.to)?.deliver(m.e);
        return;
      case 'whois?': {
        const target = this.core?.nicks.find(m.nick);
        const now = Date.now();
        const event: WhoisEvent | null =
          target === undefined
            ? null
            : { type: 'whois', nick: target.nick, rooms: target.rooms.map((room) => room.name), connectedAt: target.connectedAt, idleSeconds: Math.floor((now - target.lastActive) / 1000) };
        this.send(KEYS.nodeChannel(m.from), { t: 'whois!', id: m.id, e: event });
        return;
      }
      case 'whois!':
        this.whoisWaiting.get(m.id)?.(m.e);
        return;
      case 'ack': {
        const waiting = this.ackWaiting.get(m.id);
        if (waiting?.nodes.delete(m.n) === true && waiting.nodes.size === 0) waiting.done();
        return;
      }
      case 'state':
        if (m.n !== this.instance) this.mirror.replaceNode(m.n, m.users);
        return;
    }
  }
}
