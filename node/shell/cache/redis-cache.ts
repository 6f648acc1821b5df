import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { createClient } from 'redis';
import { CircuitBreaker } from './circuit-breaker.ts';
import type { CircuitState } from './circuit-breaker.ts';

/** A cached value: what was stored for a key and the version it reflects. */
export interface CacheEntry {
  readonly version: number;
  /** The cached text; undefined for a negative entry (the thing did not exist at `version`). */
  readonly payload: string | undefined;
}

/** What a user configures about the cache (node/config.ts parses it from the environment). */
export interface CacheSettings {
  /** redis:// or rediss:// (TLS). */
  readonly url: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** PEM file of the CA that signed the server's certificate (rediss:// only). */
  readonly caFile?: string | undefined;
  /** TTL of cached values and tombstones. */
  readonly ttlMs: number;
  /** Each TTL is drawn from [ttl, ttl * (1 + jitter)), so keys filled together do not expire together. */
  readonly ttlJitter: number;
  /** TTL of negative entries (things that do not exist). */
  readonly negativeTtlMs: number;
  /** The longest any Redis command may take before it counts as failed. */
  readonly commandTimeoutMs: number;
  readonly breakerFailureThreshold: number;
  readonly breakerOpenMs: number;
}

export interface RedisCacheOptions extends CacheSettings {
  /** Namespace of every key, so that several clusters can share one Redis. */
  readonly namespace: string;
  readonly log: Logger;
  readonly random?: () => number;
  readonly now?: () => number;
  readonly onCircuitState?: (state: CircuitState) => void;
  /** Called with each command's duration in seconds and whether it succeeded. */
  readonly onCommand?: (op: string, seconds: number, ok: boolean) => void;
}

/** The cache could not be used (Redis down, slow, circuit open): the caller falls back to the store. */
export class CacheUnavailableError extends Error {
  override readonly name = 'CacheUnavailableError';
}

/**
 * Writes `value` only if it is newer than what the key holds (ARCHITECTURE §5).
 * Values are `v:<epoch>:<version>:<payload>`, tombstones `t:0:<version>:`. A value is refused
 * when the key holds a tombstone of a higher version (the thing changed after the value was
 * loaded: the stale-set race) or a value of this epoch at the same or a higher version. Values of
 * another epoch are not trusted and are overwritten. Refused outright (-1) when the caller's epoch
 * is not the current one, so a node that missed an epoch bump cannot fill the cache.
 * KEYS: key, epoch key. ARGV: epoch, version, encoded value, ttl ms.
 */
const SET_IF_NEWER = `
local epoch = redis.call('GET', KEYS[2])
if epoch ~= ARGV[1] then return -1 end
local cur = redis.call('GET', KEYS[1])
if cur then
  local kind, e, v = string.match(cur, '^(%a):(%d+):(%-?%d+):')
  local nv = tonumber(ARGV[2])
  if kind == 't' and nv < tonumber(v) then return 0 end
  if kind == 'v' and e == ARGV[1] and nv <= tonumber(v) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1
`;

/**
 * Marks keys as changed: each key whose value is older than the given version becomes a tombstone
 * of that version, which makes any slower fill of an older value fail (SET_IF_NEWER). A value
 * already at or past the version stays. KEYS: the keys. ARGV: ttl ms, then one version per key.
 */
const INVALIDATE = `
for i, key in ipairs(KEYS) do
  local nv = tonumber(ARGV[i + 1])
  local cur = redis.call('GET', key)
  local v = cur and string.match(cur, '^%a:%d+:(%-?%d+):')
  if not v or tonumber(v) < nv then
    redis.call('SET', key, 't:0:' .. ARGV[i + 1] .. ':', 'PX', ARGV[1])
  end
end
return #KEYS
`;

/**
 * Bumps the epoch: one more than it was, and never below the Redis server's clock in
 * microseconds. The floor matters when the counter itself disappears (evicted by an allkeys-*
 * policy, deleted by hand) while values remain: counting again from 1 would come back to the
 * epochs of those values and trust them again. Starting from the clock, a new epoch is above
 * every earlier one. KEYS: epoch key. Returns the new epoch as decimal digits, as GET returns it.
 */
const BUMP_EPOCH = `
local e = redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if e < now then
  e = now
  redis.call('SET', KEYS[1], string.format('%.0f', e))
end
return string.format('%.0f', e)
`;

/** Keys per INVALIDATE call. */
const INVALIDATE_CHUNK = 256;

type Client = ReturnType<typeof createClient>;

/**
 * The Redis side of the cache (ARCHITECTURE §5), with node-redis. Every command has a timeout and
 * goes through a circuit breaker; any failure surfaces as CacheUnavailableError, which callers
 * answer by using the store. Nothing here is needed for correctness except the rules that keep
 * stale values out: version-guarded writes, tombstones on change, and the cache epoch.
 *
 * The epoch: a cluster-wide counter in Redis, part of every value. A node bumps it whenever it
 * (re)connects and whenever it failed to send an invalidation, before it uses the cache again.
 * Values written under an older epoch are then misses everywhere, so entries that may have missed
 * an invalidation while Redis (or the path to it) was down are never trusted again.
 */
export class RedisCache {
  private readonly client: Client;
  private readonly breaker: CircuitBreaker;
  private readonly o: RedisCacheOptions;
  private readonly random: () => number;
  private readonly epochKey: string;
  /** The epoch this node believes current; undefined until it has bumped or read one. */
  private epoch: string | undefined;
  /** Set on (re)connect and on a lost invalidation: bump the epoch before any other use. */
  private mustBumpEpoch = true;
  private bumping: Promise<void> | undefined;
  private readonly shas = new Map<string, string>();
  private closed = false;
  private lastErrorLog = 0;

  constructor(o: RedisCacheOptions) {
    this.o = o;
    this.random = o.random ?? Math.random;
    this.epochKey = `${o.namespace}:epoch`;
    const now = o.now ?? Date.now;
    this.breaker = new CircuitBreaker({ failureThreshold: o.breakerFailureThreshold, openMs: o.breakerOpenMs, now, onStateChange: (s) => { this.onCircuit(s); } });
    const tls = o.url.startsWith('rediss://');
    this.client = createClient({
      url: o.url,
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(o.password === undefined ? {} : { password: o.password }),
      // Fail at once when disconnected instead of queueing: the store answers meanwhile.
      disableOfflineQueue: true,
      socket: {
        connectTimeout: Math.max(1_000, o.commandTimeoutMs),
        // Exponential backoff with jitter, capped at 2 s; never gives up.
        reconnectStrategy: (retries: number) => Math.min(2_000, 50 * 2 ** Math.min(retries, 6)) * (0.5 + this.random() / 2),
        ...(tls ? { tls: true as const, ...(o.caFile === undefined ? {} : { ca: readFileSync(o.caFile) }) } : {}),
      },
    });
    this.client.on('error', (err: Error) => {
      // node-redis reports every failed reconnect here; the breaker and metrics carry the signal,
      // the log gets one line per 10 s at most.
      const t = now();
      if (t - this.lastErrorLog >= 10_000) {
        this.lastErrorLog = t;
        o.log.warn({ err: err.message }, 'redis connection error; serving from the store');
      }
    });
    this.client.on('ready', () => {
      this.mustBumpEpoch = true;
      o.log.info({ url: redact(o.url) }, 'redis connected');
    });
    this.client.connect().catch((err: unknown) => {
      // The first connection failed: node-redis keeps retrying with reconnectStrategy.
      o.log.warn({ err: (err as Error).message }, 'redis not reachable yet; serving from the store');
    });
  }

  get circuitState(): CircuitState {
    return this.breaker.state;
  }

  /** The key of a cached thing: `<namespace>:<kind>:<name>`. */
  key(kind: string, name: string): string {
    return `${this.o.namespace}:${kind}:${name}`;
  }

  /**
   * Current entries of `keys` (undefined: miss, tombstone, or written under another epoch), in one
   * round trip. Throws CacheUnavailableError when the cache cannot be used.
   */
  async getMany(keys: readonly string[]): Promise<(CacheEntry | undefined)[]> {
    const epoch = await this.currentEpoch();
    const replies = await this.command('get', (c) => c.mGet([this.epochKey, ...keys]));
    const [seen, ...values] = replies;
    if (seen !== epoch) {
      // Another node bumped the epoch (or Redis lost it): nothing read under the old one counts.
      this.epoch = seen ?? undefined;
      if (seen === null || seen === undefined) this.mustBumpEpoch = true;
      return keys.map(() => undefined);
    }
    return values.map((v) => decode(v ?? null, epoch));
  }

  /**
   * Stores `payload` (undefined: a negative entry) for `key` at `version`, unless the key holds
   * something newer. Resolves true when stored. Throws CacheUnavailableError.
   */
  async set(key: string, version: number, payload: string | undefined): Promise<boolean> {
    const epoch = await this.currentEpoch();
    const ttl = this.ttl(payload === undefined ? this.o.negativeTtlMs : this.o.ttlMs);
    const reply = await this.command('set', (c) => this.script(c, SET_IF_NEWER, [key, this.epochKey], [epoch, String(version), `v:${epoch}:${version}:${payload ?? ''}`, String(ttl)]));
    if (reply === -1) {
      // Our epoch is old: learn the current one on the next read.
      this.epoch = undefined;
      return false;
    }
    return reply === 1;
  }

  /**
   * Tombstones `keys` at the given versions (the versions their things have now), in pipelined
   * chunks. A failure is remembered: the epoch is bumped before the cache is used again, since a
   * stale value may have survived. Never throws.
   */
  async invalidate(entries: ReadonlyMap<string, number>): Promise<void> {
    if (entries.size === 0) return;
    const all = [...entries];
    const chunks: [string, number][][] = [];
    for (let i = 0; i < all.length; i += INVALIDATE_CHUNK) chunks.push(all.slice(i, i + INVALIDATE_CHUNK));
    const ttl = String(this.ttl(this.o.ttlMs));
    try {
      await Promise.all(chunks.map((chunk) => this.command('invalidate', (c) => this.script(c, INVALIDATE, chunk.map(([k]) => k), [ttl, ...chunk.map(([, v]) => String(v))]))));
    } catch {
      this.mustBumpEpoch = true;
      throw new CacheUnavailableError('invalidation lost; the cache epoch will be bumped before the cache is used again');
    }
  }

  /** Bumps the cache epoch now: every cached value becomes a miss (e.g. after a projection rebuild). */
  async bumpEpoch(): Promise<void> {
    this.mustBumpEpoch = true;
    await this.currentEpoch();
  }

  /** Marks the epoch for bumping before the cache is next used, without waiting. */
  distrustEverything(): void {
    this.mustBumpEpoch = true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
  }

  // ------------------------------------------------------------------ internals

  private async currentEpoch(): Promise<string> {
    while (this.mustBumpEpoch || this.epoch === undefined) {
      // One bump or read at a time; concurrent callers wait for it.
      this.bumping ??= this.refreshEpoch().finally(() => {
        this.bumping = undefined;
      });
      await this.bumping;
    }
    return this.epoch;
  }

  private async refreshEpoch(): Promise<void> {
    if (this.mustBumpEpoch) {
      this.mustBumpEpoch = false;
      try {
        this.epoch = String(await this.command('epoch', (c) => this.script(c, BUMP_EPOCH, [this.epochKey], [])));
      } catch (err) {
        this.mustBumpEpoch = true;
        throw err;
      }
      return;
    }
    const seen = await this.command('epoch', (c) => c.get(this.epochKey));
    if (seen === null) this.mustBumpEpoch = true;
    else this.epoch = seen;
  }

  /** Runs one command through the breaker with the command timeout. */
  private async command<T>(op: string, run: (c: Client) => Promise<T>): Promise<T> {
    if (this.closed || !this.client.isReady || !this.breaker.allow()) {
      this.o.onCommand?.(op, 0, false);
      throw new CacheUnavailableError(this.closed ? 'cache closed' : !this.client.isReady ? 'redis not connected' : 'circuit open');
    }
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        run(this.client),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            // A timer that fires late, after this process was busy, may find the reply already
            // received and not yet read: timers run before I/O in the event loop. Decide after
            // the I/O phase (setImmediate), so that the timeout measures Redis, not our own
            // event-loop lag; under CPU saturation it otherwise failed healthy commands.
            setImmediate(() => {
              reject(new CacheUnavailableError(`redis ${op} took longer than ${this.o.commandTimeoutMs} ms`));
            });
          }, this.o.commandTimeoutMs);
        }),
      ]);
      this.breaker.success();
      this.o.onCommand?.(op, (performance.now() - started) / 1000, true);
      return result;
    } catch (err) {
      this.breaker.failure();
      this.o.onCommand?.(op, (performance.now() - started) / 1000, false);
      throw err instanceof CacheUnavailableError ? err : new CacheUnavailableError(`redis ${op} failed`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** EVALSHA, loading the script on NOSCRIPT (a restarted Redis has none). */
  private async script(c: Client, source: string, keys: string[], args: string[]): Promise<unknown> {
    let sha = this.shas.get(source);
    sha ??= createHash('sha1').update(source).digest('hex');
    this.shas.set(source, sha);
    try {
      return await c.evalSha(sha, { keys, arguments: args });
    } catch (err) {
      if (!(err as Error).message.startsWith('NOSCRIPT')) throw err;
      return c.eval(source, { keys, arguments: args });
    }
  }

  private ttl(base: number): number {
    return Math.round(base * (1 + this.o.ttlJitter * this.random()));
  }

  private onCircuit(state: CircuitState): void {
    this.o.onCircuitState?.(state);
    this.o.log.warn({ state }, `redis circuit ${state}`);
  }
}

function decode(raw: string | null, epoch: string): CacheEntry | undefined {
  if (raw === null) return undefined;
  const m = /^([vt]):(\d+):(-?\d+):/.exec(raw);
  if (m?.[1] !== 'v' || m[2] !== epoch) return undefined;
  const payload = raw.slice(m[0].length);
  const version = Number(m[3]);
  // Payloads are JSON, never empty: empty marks a negative entry.
  return { version, payload: payload === '' ? undefined : payload };
}

/** The URL without its credentials, for logs. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.username = '';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}
