/**
 * Seeded pseudo-random numbers. The core never touches Math.random: whoever builds a node injects a
 * Random, so a simulator seed fixes every election timeout and the whole run replays exactly.
 */
export interface Random {
  /** A uniform integer in [0, bound). Precondition: bound is a positive safe integer. */
  int(bound: number): number;
  /** A uniform float in [0, 1). */
  float(): number;
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counter) seeded through splitmix32: fast, 128 bits of
 * state, passes PractRand, and trivially portable, which is all a simulator needs. Not for secrets.
 */
export class SeededRandom implements Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const splitmix = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix();
    this.b = splitmix();
    this.c = splitmix();
    this.d = splitmix();
    for (let i = 0; i < 12; i++) this.next32();
  }

  /** A uniform 32-bit unsigned integer. */
  next32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  float(): number {
    return this.next32() / 4294967296;
  }

  int(bound: number): number {
    if (!Number.isSafeInteger(bound) || bound <= 0) throw new RangeError(`Random.int bound must be a positive integer, got ${bound}`);
    return Math.floor(this.float() * bound);
  }

  /** An independent stream derived from this one, so adding draws in one place does not shift another. */
  fork(): SeededRandom {
    return new SeededRandom(this.next32());
  }
}
