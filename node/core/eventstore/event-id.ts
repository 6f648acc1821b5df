/**
 * Time-ordered event ids: UUID version 7 (RFC 9562 §5.7), for the ids the node and the client
 * make up when an append does not carry its own.
 *
 * Why not random (version 4) ids: the event store indexes every event by its id (the `ids`
 * database, for idempotent appends), and lmdb, a B-tree, pays for a random key with a leaf page
 * of its own in every commit: about 10 µs of CPU per event on every replica (docs/event-storage.md,
 * "Event ids"). Ids that grow with time land at the right edge of the tree, a few pages per commit.
 *
 * Layout: 48 bits of Unix time in milliseconds, the version (7), 12 bits of counter, the variant
 * (binary 10), 62 random bits. Within a millisecond the counter counts up from a random start
 * below 2^11 (RFC 9562 §6.2, method 1), so the ids one generator makes sort in the order it made
 * them; should it run out, the generator borrows the next millisecond. A clock that steps back
 * does not take the ids with it. Ids from different generators interleave by time and stay
 * unique through their random bits.
 *
 * Pure: the clock and the random bytes are given (the core does no I/O).
 */
export class EventIdGenerator {
  private readonly now: () => number;
  private readonly randomBytes: (bytes: Uint8Array) => void;
  private lastMs = -1;
  private counter = 0;
  /** Random bytes drawn ahead, 8 per id. */
  private readonly pool = new Uint8Array(POOL_BYTES);
  private poolAt = POOL_BYTES;

  /**
   * @param now milliseconds since the Unix epoch
   * @param randomBytes fills its argument with cryptographically random bytes
   */
  constructor(now: () => number, randomBytes: (bytes: Uint8Array) => void) {
    this.now = now;
    this.randomBytes = randomBytes;
  }

  next(): string {
    const clock = Math.floor(this.now());
    if (clock > this.lastMs) {
      this.lastMs = clock;
      this.counter = this.randomByte() | ((this.randomByte() & 0x07) << 8); // below 2^11
    } else if (this.counter < 0xfff) {
      this.counter++;
    } else {
      this.lastMs++; // 4,096 ids in one millisecond: borrow the next one
      this.counter = 0;
    }
    const ms = this.lastMs;
    const high = Math.floor(ms / 2 ** 16); // the top 32 of the 48 time bits
    const r = this.randomBytes8();
    return (
      hex32(high) +
      '-' +
      hex16(ms & 0xffff) +
      '-' +
      hex16(0x7000 | this.counter) +
      '-' +
      hex16(0x8000 | ((r[0] & 0x3f) << 8) | r[1]) +
      '-' +
      hex16((r[2] << 8) | r[3]) +
      hex32(((r[4] << 24) | (r[5] << 16) | (r[6] << 8) | r[7]) >>> 0)
    );
  }

  private randomByte(): number {
    if (this.poolAt >= POOL_BYTES) this.refill();
    return this.pool[this.poolAt++] as number;
  }

  private randomBytes8(): [number, number, number, number, number, number, number, number] {
    if (this.poolAt + 8 > POOL_BYTES) this.refill();
    const p = this.pool;
    const at = this.poolAt;
    this.poolAt += 8;
    return [p[at] as number, p[at + 1] as number, p[at + 2] as number, p[at + 3] as number, p[at + 4] as number, p[at + 5] as number, p[at + 6] as number, p[at + 7] as number];
  }

  private refill(): void {
    this.randomBytes(this.pool);
    this.poolAt = 0;
  }
}

/** The time an id of version 7 carries, in milliseconds since the Unix epoch. */
export function uuidV7Time(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

const POOL_BYTES = 4096;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex16(n: number): string {
  return (HEX[(n >>> 8) & 0xff] as string) + (HEX[n & 0xff] as string);
}

function hex32(n: number): string {
  return hex16(n >>> 16) + hex16(n & 0xffff);
}
