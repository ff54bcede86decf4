import { addressPrefix } from '../core/address-prefix';
import { Budget } from './budget';

/**
 * Input budgets, all per second with a burst. Lines are paced (they wait in a bounded backlog); bytes past
 * the byte budget are discarded unread-through, since reading them is the cost an attacker imposes.
 * A rate of 0 turns that budget off.
 */
export interface FloodSettings {
  /** Lines a registered connection may send at once. */
  lineBurst: number;
  /** Lines per second a registered connection may send after its burst. */
  lineRate: number;
  /** Lines all connections of one address (IPv4 exact, IPv6 /64) may send at once. */
  addressLineBurst: number;
  /** Lines per second all connections of one address may send after their burst. */
  addressLineRate: number;
  /** Bytes per second one registered connection may send (its burst is INPUT_BURST_SECONDS of it). */
  inputRate: number;
  /** Bytes per second all connections of one address may send together. */
  addressInputRate: number;
  /** Seconds a connection may keep exceeding its budget (dropping input) before it is disconnected; 0: never. */
  floodKickSeconds: number;
  /** New connections per second one address may open (its burst is CONNECT_BURST_SECONDS of it). */
  connectRate: number;
}

/** The defaults documented in mychatd(8). */
export const DEFAULT_FLOOD: FloodSettings = {
  lineBurst: 20,
  lineRate: 5,
  addressLineBurst: 100,
  addressLineRate: 20,
  inputRate: 8192,
  addressInputRate: 32768,
  floodKickSeconds: 30,
  connectRate: 5,
};

/** A byte budget's burst, in seconds of its rate: a 64 KiB burst at 8 KiB/s holds a full /paste block and more. */
export const INPUT_BURST_SECONDS = 8;
/** A connect budget's burst, in seconds of its rate: a classroom behind one NAT address connecting at once. */
export const CONNECT_BURST_SECONDS = 8;
/** Before registration a connection gets this fraction of the byte rate (a nickname needs a few bytes). */
export const UNREGISTERED_INPUT_SHARE = 1 / 16;
/** Before registration a connection's byte burst: one full line plus telnet negotiation. */
export const UNREGISTERED_INPUT_BURST = 5 * 1024;
/** Lines an unregistered connection may send at once, and per second after that. */
export const UNREGISTERED_LINES = { burst: 5, rate: 1 } as const;

/** The budgets one address shares among its connections, counted so the entry goes when the last one closes. */
export interface AddressBudget {
  readonly key: string;
  lines: Budget | undefined;
  bytes: Budget | undefined;
  connections: number;
}

/**
 * Budgets shared by every connection of one address: without them, one host opening 100 connections would
 * get 100 times the flood budget. Entries exist only while the address has connections, so the map is
 * bounded by the connection limits.
 */
export class AddressBudgets {
  private readonly byKey = new Map<string, AddressBudget>();

  constructor(private settings: FloodSettings) {}

  /** Applies new settings to addresses seen from now on (open ones keep theirs). */
  reconfigure(settings: FloodSettings): void {
    this.settings = settings;
  }

  /** The shared budget of `address`, counting one more connection. */
  acquire(address: string, now: number): AddressBudget {
    const key = addressPrefix(address);
    let entry = this.byKey.get(key);
    if (entry === undefined) {
      const s = this.settings;
      entry = {
        key,
        lines: s.addressLineRate > 0 ? new Budget(s.addressLineBurst, s.addressLineRate, now) : undefined,
        bytes: s.addressInputRate > 0 ? new Budget(s.addressInputRate * INPUT_BURST_SECONDS, s.addressInputRate, now) : undefined,
        connections: 0,
      };
      this.byKey.set(key, entry);
    }
    entry.connections++;
    return entry;
  }

  /** Counts one connection of the entry's address gone. */
  release(entry: AddressBudget): void {
    if (--entry.connections <= 0) this.byKey.delete(entry.key);
  }

  /** Number of addresses with open connections. */
  get size(): number {
    return this.byKey.size;
  }
}

/** Entries the connect limiter keeps before it forgets addresses whose budget has refilled. */
const CONNECT_TRACK_SOFT_CAP = 10_000;
/** Entries past which the connect limiter starts over rather than grow (fails open under a huge spread). */
const CONNECT_TRACK_HARD_CAP = 200_000;

/**
 * Limits how fast one address (IPv4 exact, IPv6 /64) may open connections, before any session exists, so
 * a connect storm costs one small write per refused attempt. Memory is bounded: addresses whose budget has
 * refilled are forgotten once the table grows.
 */
export class ConnectRateLimiter {
  private readonly byKey = new Map<string, Budget>();

  constructor(private rate: number) {}

  /** Changes the rate for addresses seen from now on; 0 turns the limit off. */
  reconfigure(rate: number): void {
    if (rate !== this.rate) this.byKey.clear();
    this.rate = rate;
  }

  /** Takes one connection from the address's budget: 0 when allowed, else the ms until one is. */
  admit(address: string, now: number): number {
    if (this.rate <= 0) return 0;
    const key = addressPrefix(address);
    let budget = this.byKey.get(key);
    if (budget === undefined) {
      if (this.byKey.size >= CONNECT_TRACK_SOFT_CAP) this.forgetIdle(now);
      if (this.byKey.size >= CONNECT_TRACK_HARD_CAP) this.byKey.clear();
      budget = new Budget(Math.max(1, this.rate * CONNECT_BURST_SECONDS), this.rate, now);
      this.byKey.set(key, budget);
    }
    return budget.tryTake(now, 1);
  }

  private forgetIdle(now: number): void {
    for (const [key, budget] of this.byKey) if (budget.full(now)) this.byKey.delete(key);
  }
}
