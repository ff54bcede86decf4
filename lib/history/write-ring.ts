import type { HistoryKind } from '../core/ports/history-store';
import type { UnsavedWrite } from './unsaved-backlog';

/*
 * The hand-off from the event loop to the SQLite writer thread (see sqlite-threaded-store.ts): a ring of
 * bytes in shared memory with one producer (the event loop) and one consumer (the writer). A write is
 * encoded straight into the ring, with no object, message or copy per entry, which is what makes storing
 * cheap for the event loop; the writer decodes the entries and commits them.
 *
 * The control words (Int32, used with Atomics) hold the byte counters of both ends, which run on modulo
 * 2^32 (the ring's size is a power of two, so a counter masked by size-1 is the position), and the counts
 * of entries published by the producer, consumed and committed by the writer, and covered by the last
 * search catch-up. Records are aligned to 8 bytes; a record that does not fit before the end of the ring
 * is preceded by a wrap mark (length 0) and starts at position 0.
 *
 * A record: its length, op, kind, padding, id, time (FIXED_BYTES), then the length of each of its strings
 * in UTF-16 units, the byte length of their UTF-8, and the strings' UTF-8 one after the other. Each end
 * converts all of a record's strings in one call (one write, one decode and slices): four calls each per
 * message cost the event loop about 100 ns and the writer 150 ns more (measured on their own).
 */

/** Indexes of the control words. */
export const CTL = {
  /** Bytes written by the producer (modulo 2^32). */
  head: 0,
  /** Bytes consumed by the writer (modulo 2^32). */
  tail: 1,
  /** Entries the producer has published. */
  published: 2,
  /** Entries the writer has taken from the ring. */
  consumed: 3,
  /** Entries the writer has committed (or handed to its outage backlog). */
  committed: 4,
  /** Entries committed and added to the search index by the last search catch-up. */
  searched: 5,
  /** 0 while the writer thread starts, 1 once its store is open, 2 when it could not open it. */
  ready: 6,
  /** The newest count of committed entries someone waits for: the writer says by message when it is reached. */
  wanted: 7,
  /** 1 while the writer sleeps until woken (publish() wakes it); 0 while it looks for entries on its own. */
  sleeping: 8,
} as const;

/** Number of control words. */
const CTL_WORDS = 16;
/** Bytes of a record's fixed part: length, op, kind, padding, id, at. */
const FIXED_BYTES = 24;
const OP_MESSAGE = 1;
const OP_ROOM = 2;
const OP_FORGET = 3;
const KINDS: readonly HistoryKind[] = ['MSG', 'ACTION', 'TOPIC', 'PASTE'];

/** What the writer takes from the ring: a queued write, and for messages the id the event loop gave it. */
export type RingEntry = UnsavedWrite & { id?: number };

/** The shared memory of a ring, passed to the writer thread. */
export interface RingMemory {
  data: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

/** Allocates a ring of `bytes` (a power of two). */
export function allocateRing(bytes: number): RingMemory {
  if (bytes < 1024 || (bytes & (bytes - 1)) !== 0) throw new RangeError(`ring size ${bytes} is not a power of two of at least 1024`);
  const control = new SharedArrayBuffer(CTL_WORDS * 4);
  return { data: new SharedArrayBuffer(bytes), control };
}

/** Rounds up to a multiple of 8. */
function align(n: number): number {
  return (n + 7) & ~7;
}

/** Most bytes `entry` can take in the ring (strings at 3 bytes per UTF-16 unit, the UTF-8 worst case). */
function worstCase(entry: UnsavedWrite): number {
  let chars = entry.roomKey.length;
  if ('roomName' in entry) chars += entry.roomName.length;
  if ('kind' in entry) chars += entry.nick.length + entry.text.length;
  else if ('creator' in entry && entry.creator !== undefined) chars += entry.creator.length;
  // At most four string lengths and the byte length.
  return align(FIXED_BYTES + 5 * 4 + chars * 3);
}

/** Both ends share this: the views of the memory. */
class RingViews {
  protected readonly bytes: Buffer;
  readonly control: Int32Array;
  protected readonly size: number;

  constructor(memory: RingMemory) {
    this.bytes = Buffer.from(memory.data);
    this.control = new Int32Array(memory.control);
    this.size = memory.data.byteLength;
  }
}

/** The event loop's end: encodes entries into the ring and publishes them. */
export class RingProducer extends RingViews {
  /** Bytes written so far (modulo 2^32), published or not: the writer sees them up to the last publish(). */
  private head: number;
  private written: number;
  /**
   * The writer's tail as last read. It only moves forward, so an old value only underestimates the free
   * space: the shared word (on a cache line the writer keeps writing) is read again only when that
   * estimate says an entry does not fit.
   */
  private tailSeen: number;

  constructor(memory: RingMemory) {
    super(memory);
    this.head = Atomics.load(this.control, CTL.head) >>> 0;
    this.written = Atomics.load(this.control, CTL.published) >>> 0;
    this.tailSeen = Atomics.load(this.control, CTL.tail) >>> 0;
  }

  /** Entries written so far (published or not). */
  get count(): number {
    return this.written;
  }

  /** True when nothing written is unpublished. */
  get allPublished(): boolean {
    return (Atomics.load(this.control, CTL.published) >>> 0) === this.written;
  }

  /** Largest entry the ring takes: half of it, so one always fits once the writer has caught up. */
  fits(entry: UnsavedWrite): boolean {
    return worstCase(entry) + 8 <= this.size / 2;
  }

  /**
   * Writes `entry` (a message with its `id`) into the ring if there is room for it (false when the writer has not freed enough yet:
   * publish and wait for the tail to move). The entry is seen by the writer at the next publish().
   */
  tryWrite(entry: UnsavedWrite, id?: number): boolean {
    const need = worstCase(entry);
    let at = this.head & (this.size - 1);
    const toEnd = this.size - at;
    // A record never straddles the end: it needs a wrap mark and then `need` bytes from position 0.
    const wraps = toEnd < need;
    const needed = need + (wraps ? toEnd : 0);
    if (((this.head - this.tailSeen) >>> 0) + needed > this.size) {
      this.tailSeen = Atomics.load(this.control, CTL.tail) >>> 0;
      if (((this.head - this.tailSeen) >>> 0) + needed > this.size) return false;
    }
    if (wraps) {
      this.bytes.writeUInt32LE(0, at);
      this.head = (this.head + toEnd) >>> 0;
      at = 0;
    }
    const b = this.bytes;
    let o: number;
    if ('kind' in entry) {
      b[at + 4] = OP_MESSAGE;
      b[at + 5] = KINDS.indexOf(entry.kind);
      b.writeDoubleLE(id ?? -1, at + 8);
      b.writeDoubleLE(entry.at, at + 16);
      o = this.strings(at, 4, entry.roomKey, entry.roomName, entry.nick, entry.text);
    } else if ('forget' in entry) {
      b[at + 4] = OP_FORGET;
      o = this.strings(at, 1, entry.roomKey);
    } else {
      b[at + 4] = OP_ROOM;
      b[at + 5] = entry.creator === undefined ? 0 : 1;
      b.writeDoubleLE(entry.at, at + 16);
      o = this.strings(at, 3, entry.roomKey, entry.roomName, entry.creator ?? '');
    }
    const length = align(o - at);
    b.writeUInt32LE(length, at);
    this.head = (this.head + length) >>> 0;
    this.written = (this.written + 1) >>> 0;
    return true;
  }

  /**
   * Writes the `count` strings of the record at `at` (their lengths, then their UTF-8 in one go); returns
   * where the record ends. Fixed parameters rather than a rest array: this runs for every stored message.
   */
  private strings(at: number, count: 1 | 3 | 4, s0: string, s1 = '', s2 = '', s3 = ''): number {
    const b = this.bytes;
    const o = at + FIXED_BYTES;
    b.writeUInt32LE(s0.length, o);
    if (count > 1) {
      b.writeUInt32LE(s1.length, o + 4);
      b.writeUInt32LE(s2.length, o + 8);
    }
    if (count > 3) b.writeUInt32LE(s3.length, o + 12);
    const bytes = o + 4 * count;
    const n = b.write(s0 + s1 + s2 + s3, bytes + 4);
    b.writeUInt32LE(n, bytes);
    return bytes + 4 + n;
  }

  /**
   * Makes everything written visible to the writer, and wakes it if it sleeps (or if `wake`, when someone
   * blocks on its commit). A writer that is busy looks again within POLL_MS (10 ms) on its own, so a turn
   * under load costs no wake-up: waking a thread was 3 % of the event loop's time at full load.
   */
  publish(wake = false): void {
    if (this.allPublished) return;
    Atomics.store(this.control, CTL.head, this.head | 0);
    Atomics.store(this.control, CTL.published, this.written | 0);
    // The writer stores `sleeping` before it looks at `published` a last time, and this reads `sleeping`
    // after storing `published`: one of the two sees the other's store, so no publish goes unseen.
    if (wake || Atomics.load(this.control, CTL.sleeping) === 1) Atomics.notify(this.control, CTL.published);
  }
}

/** The writer's end: decodes published entries and frees their space. */
export class RingConsumer extends RingViews {
  /** Takes every published entry, oldest first, hands each to `take`, then frees the space; returns how many. */
  drain(take: (entry: RingEntry) => void): number {
    // The producer stores the head before the count, so reading the count first never sees an entry half written.
    const published = Atomics.load(this.control, CTL.published) >>> 0;
    const head = Atomics.load(this.control, CTL.head) >>> 0;
    let consumed = Atomics.load(this.control, CTL.consumed) >>> 0;
    let tail = Atomics.load(this.control, CTL.tail) >>> 0;
    let taken = 0;
    const b = this.bytes;
    while (tail !== head && consumed !== published) {
      const at = tail & (this.size - 1);
      const length = b.readUInt32LE(at);
      if (length === 0) {
        tail = (tail + (this.size - at)) >>> 0;
        continue;
      }
      const op = b[at + 4];
      if (op === OP_MESSAGE) {
        const [roomKey, roomName, nick, text] = this.strings(at, 4);
        const id = b.readDoubleLE(at + 8);
        const entry: RingEntry = { roomKey: roomKey!, roomName: roomName!, at: b.readDoubleLE(at + 16), nick: nick!, kind: KINDS[b[at + 5]!]!, text: text! };
        if (id >= 0) entry.id = id;
        take(entry);
      } else if (op === OP_FORGET) {
        take({ roomKey: this.strings(at, 1)[0]!, forget: true });
      } else {
        const [roomKey, roomName, creator] = this.strings(at, 3);
        take({ roomKey: roomKey!, roomName: roomName!, at: b.readDoubleLE(at + 16), ...(b[at + 5] === 1 ? { creator: creator! } : {}) });
      }
      tail = (tail + length) >>> 0;
      consumed = (consumed + 1) >>> 0;
      taken++;
    }
    Atomics.store(this.control, CTL.consumed, consumed | 0);
    Atomics.store(this.control, CTL.tail, tail | 0);
    Atomics.notify(this.control, CTL.tail);
    return taken;
  }

  /** The `count` strings of the record at `at`: one decode of their UTF-8, cut at their UTF-16 lengths. */
  private strings(at: number, count: number): string[] {
    const b = this.bytes;
    const lengths = at + FIXED_BYTES;
    const bytes = lengths + 4 * count;
    const joined = b.toString('utf8', bytes + 4, bytes + 4 + b.readUInt32LE(bytes));
    const out: string[] = [];
    let from = 0;
    for (let i = 0; i < count; i++) {
      const to = from + b.readUInt32LE(lengths + 4 * i);
      out.push(joined.slice(from, to));
      from = to;
    }
    return out;
  }
}

/** True when counter `a` has reached `b` (both modulo 2^32, less than 2^31 apart). */
export function reached(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** What Atomics.waitAsync returns: at once when the word already differs, or a promise of the wake-up. */
export type AsyncWait = { async: false; value: string } | { async: true; value: Promise<string> };

/** Atomics.waitAsync (in Node since 16), which the ES2022 library TypeScript is given here does not declare. */
export function waitAsync(view: Int32Array, index: number, value: number, timeoutMs: number): AsyncWait {
  return (Atomics as unknown as { waitAsync(v: Int32Array, i: number, x: number, t: number): AsyncWait }).waitAsync(view, index, value, timeoutMs);
}
