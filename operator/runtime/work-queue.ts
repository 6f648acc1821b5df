/**
 * The controller work queue, with client-go's semantics:
 * - a key is queued at most once however often it is added (de-dup);
 * - a key is handed to one worker at a time: added again while being processed, it is queued
 *   again when the worker calls done(), never processed twice at once;
 * - failures back off per key, exponentially (`addRateLimited`, reset by `forget`), and every
 *   rate-limited add also passes a global token bucket, so a storm of failing keys cannot
 *   hammer the API server;
 * - `addAfter` schedules a key (the reconciler's "look again in 2 s").
 */

export interface WorkQueueOptions {
  /** First per-key retry delay (default 5 ms), doubled per failure up to `maxDelayMs` (default 5 min). */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Global bucket: sustained rate-limited adds per second (default 10) and burst (default 100). */
  readonly qps?: number;
  readonly burst?: number;
  readonly now?: () => number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly qps: number;
  private readonly burst: number;
  private readonly now: () => number;
  private tokens: number;
  private tokensAt: number;
  private shuttingDown = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(o: WorkQueueOptions = {}) {
    this.baseDelayMs = o.baseDelayMs ?? 5;
    this.maxDelayMs = o.maxDelayMs ?? 300_000;
    this.qps = o.qps ?? 10;
    this.burst = o.burst ?? 100;
    this.now = o.now ?? Date.now;
    this.tokens = this.burst;
    this.tokensAt = this.now();
  }

  /** Keys waiting to be processed (not those being processed, nor those scheduled for later). */
  get length(): number {
    return this.queue.length;
  }

  /** Keys scheduled for later. */
  get scheduled(): number {
    return this.timers.size;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // queued again by done()
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else this.queue.push(key);
  }

  /** Adds `key` after `delayMs`; an earlier schedule of the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = this.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing !== undefined) {
      if (existing.at <= at) return;
      clearTimeout(existing.timer);
    }
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Adds `key` after its backoff: the per-key exponential delay or the global bucket's, whichever is longer. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.max(Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** n), this.bucketDelay());
    this.addAfter(key, delay);
    return delay;
  }

  /** How often `key` has failed in a row. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The key succeeded: its backoff starts over. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** The next key to process; undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The worker is finished with `key`; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
    if (this.processing.size === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Stops handing out keys; resolves once the keys being processed are done. */
  async shutDown(): Promise<void> {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
    this.queue.length = 0;
    this.dirty.clear();
    if (this.processing.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private bucketDelay(): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.tokensAt) / 1000) * this.qps);
    this.tokensAt = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.qps) * 1000);
  }
}
