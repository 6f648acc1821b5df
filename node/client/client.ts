import { randomFillSync, randomUUID } from 'node:crypto';
import { EventIdGenerator } from '../core/eventstore/event-id.ts';
import type { ExpectedVersion, Json, RecordedEvent, StreamAppendResult } from '../core/eventstore/index.ts';
import { EventraftError, UnavailableError, errorFor, isRetryable } from './errors.ts';
import type { ProblemBody } from './errors.ts';
import { parseEventStream } from './sse.ts';

export type Consistency = 'strong' | 'leader' | 'eventual';

/** Events per page read by streamEvents() and allEvents(). */
const DEFAULT_PAGE_SIZE = 500;

/** An event to append. Without an `id`, the client assigns one before the first attempt. */
export interface NewEvent {
  readonly id?: string;
  readonly type: string;
  readonly data: Json;
  readonly metadata?: Json;
  readonly schemaVersion?: number;
}

export interface AppendResult extends StreamAppendResult {
  /** True when the events were stored already by an earlier attempt of the same append. */
  readonly duplicate: boolean;
}

export interface StreamPage {
  readonly stream: string;
  /** The stream's last version when read (-1: no events). */
  readonly version: number;
  readonly events: readonly RecordedEvent[];
}

export interface CommandResult {
  readonly type: string;
  readonly id: string;
  readonly version: number;
  readonly events: readonly RecordedEvent[];
  readonly duplicate: boolean;
}

export interface AggregateState<S = Json> {
  readonly type: string;
  readonly id: string;
  readonly version: number;
  readonly state: S;
}

export interface RetryOptions {
  /** Attempts in all, the first included (default 8). */
  readonly maxAttempts?: number;
  /** Backoff before attempt n+1 is random in [0, min(maxDelayMs, baseDelayMs * 2^n)) (full jitter). */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

export interface ClientOptions {
  /** Base URLs of the nodes, e.g. http://eventraft-0.eventraft:8080. Any node serves any call. */
  readonly endpoints: readonly string[];
  /** Time limit of each attempt (default 10 s). */
  readonly timeoutMs?: number;
  readonly retry?: RetryOptions;
  /** Sent as a bearer token (needed for admin calls when the cluster has one). */
  readonly adminToken?: string;
  /** For tests: the fetch and the random source used for jitter. */
  readonly fetch?: typeof fetch;
  readonly random?: () => number;
}

interface Attempted {
  readonly status: number;
  readonly body: unknown;
}

/**
 * The TypeScript client of eventraft. Every call retries what is safe to retry (no leader,
 * overload, timeouts, network failures, contended aggregates) with exponential backoff and full
 * jitter, moving to the next endpoint, and reusing the same event ids and Idempotency-Key, so a
 * write is applied at most once however often it is retried. Everything else fails at once with
 * a typed error (WrongExpectedVersionError, DomainRuleViolationError, ...).
 */
export class EventraftClient {
  private readonly endpoints: readonly string[];
  private readonly o: ClientOptions;
  private readonly fetchFn: typeof fetch;
  private readonly random: () => number;
  private next = 0;

  constructor(o: ClientOptions) {
    if (o.endpoints.length === 0) throw new RangeError('EventraftClient needs at least one endpoint');
    this.endpoints = o.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.o = o;
    this.fetchFn = o.fetch ?? fetch;
    this.random = o.random ?? Math.random;
  }

  // ------------------------------------------------------------------ events

  /** Appends to one stream, checked against `expectedVersion` (default `any`). */
  async appendToStream(stream: string, events: readonly NewEvent[], options: { expectedVersion?: ExpectedVersion } = {}): Promise<AppendResult> {
    const body = { expectedVersion: options.expectedVersion ?? 'any', events: withIds(events) };
    return (await this.call('POST', `/v1/streams/${encodeURIComponent(stream)}/events`, { body })) as AppendResult;
  }

  /** Appends to several streams atomically: all or none. */
  async appendToStreams(appends: readonly { stream: string; expectedVersion?: ExpectedVersion; events: readonly NewEvent[] }[]): Promise<{ results: AppendResult[]; duplicate: boolean }> {
    const body = { appends: appends.map((a) => ({ stream: a.stream, expectedVersion: a.expectedVersion ?? 'any', events: withIds(a.events) })) };
    return (await this.call('POST', '/v1/events', { body })) as { results: AppendResult[]; duplicate: boolean };
  }

  /**
   * One page of a stream: up to `limit` events from version `from`. A page of large events ends
   * early (16 MiB): a short page is not the stream's end; streamEvents() pages for you.
   */
  async readStream(stream: string, options: { from?: number; limit?: number; direction?: 'forward' | 'backward'; consistency?: Consistency } = {}): Promise<StreamPage> {
    return (await this.call('GET', `/v1/streams/${encodeURIComponent(stream)}/events`, { query: options })) as StreamPage;
  }

  /** One page of the global log from a position (ends early like readStream's; see allEvents()). */
  async readAll(options: { fromPosition?: number; limit?: number; consistency?: Consistency } = {}): Promise<{ headPosition: number; events: RecordedEvent[] }> {
    return (await this.call('GET', '/v1/events', { query: options })) as { headPosition: number; events: RecordedEvent[] };
  }

  /**
   * The events of `stream` from version `from` (forward: default 0; backward: default its last),
   * read page by page (`pageSize` events, default 500) up to the stream's end as the last page
   * saw it. Each page is its own read at `consistency`, not one snapshot: events appended while
   * this runs show up going forward once their page is read.
   */
  async *streamEvents(stream: string, options: { from?: number; direction?: 'forward' | 'backward'; consistency?: Consistency; pageSize?: number } = {}): AsyncGenerator<RecordedEvent> {
    const direction = options.direction ?? 'forward';
    let from = options.from;
    for (;;) {
      const page = await this.readStream(stream, { from, limit: options.pageSize ?? DEFAULT_PAGE_SIZE, direction, consistency: options.consistency });
      yield* page.events;
      const last = page.events.at(-1);
      if (last === undefined || (direction === 'forward' ? last.version >= page.version : last.version === 0)) return;
      from = direction === 'forward' ? last.version + 1 : last.version - 1;
    }
  }

  /**
   * The global log from `fromPosition` (default 0), read page by page (`pageSize` events, default
   * 500) up to the head position the last page reported; each page its own read at
   * `consistency`. For every event and then the live ones, use subscribe().
   */
  async *allEvents(options: { fromPosition?: number; consistency?: Consistency; pageSize?: number } = {}): AsyncGenerator<RecordedEvent> {
    let fromPosition = options.fromPosition ?? 0;
    for (;;) {
      const page = await this.readAll({ fromPosition, limit: options.pageSize ?? DEFAULT_PAGE_SIZE, consistency: options.consistency });
      yield* page.events;
      const last = page.events.at(-1);
      if (last === undefined || last.position >= page.headPosition) return;
      fromPosition = last.position + 1;
    }
  }

  /**
   * Every event from `fromPosition` (default 0), optionally of one stream, then live ones, in
   * order and each once: when a node goes away the subscription resumes on the next endpoint
   * after the last event it delivered. Ends when `signal` aborts.
   */
  async *subscribe(options: { fromPosition?: number; stream?: string; signal?: AbortSignal } = {}): AsyncGenerator<RecordedEvent> {
    let lastId: string | undefined = options.fromPosition === undefined || options.fromPosition === 0 ? undefined : String(options.fromPosition - 1);
    let failures = 0;
    while (options.signal?.aborted !== true) {
      const base = this.endpoint();
      const query = new URLSearchParams(options.stream === undefined ? {} : { stream: options.stream });
      try {
        const res = await this.fetchFn(`${base}/v1/subscriptions/events?${query.toString()}`, {
          headers: { accept: 'text/event-stream', ...(lastId === undefined ? {} : { 'last-event-id': lastId }), ...this.authHeader() },
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
        if (res.status !== 200 || res.body === null) {
          const problem = (await res.json().catch(() => ({}))) as ProblemBody;
          if (!isRetryable(res.status, problem.code ?? '')) throw errorFor(res.status, problem);
        } else {
          for await (const m of parseEventStream(res.body, options.signal)) {
            if (isAborted(options.signal)) return; // nothing more after the caller stopped
            if (m.id !== undefined) lastId = m.id;
            if (m.data !== undefined) {
              failures = 0;
              yield JSON.parse(m.data) as RecordedEvent;
            }
          }
        }
      } catch (err) {
        if (isAborted(options.signal)) return; // the caller is done: end quietly
        if (err instanceof EventraftError) throw err;
        // The connection broke: resume elsewhere.
      }
      this.rotate();
      await sleep(this.backoff(failures++));
    }
  }

  // ------------------------------------------------------------------ aggregates and projections

  /**
   * Runs a command. The Idempotency-Key (generated when not given) is kept across retries, so the
   * command is applied at most once; a retry of an applied command answers with its events.
   */
  async execute(type: string, id: string, command: string, data: Json, options: { idempotencyKey?: string } = {}): Promise<CommandResult> {
    const key = options.idempotencyKey ?? randomUUID();
    const path = `/v1/aggregates/${encodeURIComponent(type)}/${encodeURIComponent(id)}/commands/${encodeURIComponent(command)}`;
    return (await this.call('POST', path, { body: data, headers: { 'idempotency-key': key } })) as CommandResult;
  }

  async getAggregate<S = Json>(type: string, id: string, options: { consistency?: Consistency } = {}): Promise<AggregateState<S>> {
    return (await this.call('GET', `/v1/aggregates/${encodeURIComponent(type)}/${encodeURIComponent(id)}`, { query: options })) as AggregateState<S>;
  }

  /** Several aggregates of one type; missing ones have version -1 and null state. */
  async getAggregates<S = Json>(type: string, ids: readonly string[], options: { consistency?: Consistency } = {}): Promise<AggregateState<S | null>[]> {
    const res = (await this.call('GET', `/v1/aggregates/${encodeURIComponent(type)}`, { query: { ...options, ids: ids.join(',') } })) as { aggregates: AggregateState<S | null>[] };
    return res.aggregates;
  }

  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- T names the row shape the caller expects (not checked)
  async getProjection<T = Json>(name: string, key: string, options: { consistency?: Consistency } = {}): Promise<{ value: T; version: number; checkpoint: number }> {
    return (await this.call('GET', `/v1/projections/${encodeURIComponent(name)}/${encodeURIComponent(key)}`, { query: options })) as { value: T; version: number; checkpoint: number };
  }

  async rebuildProjection(name: string): Promise<void> {
    await this.call('POST', `/v1/projections/${encodeURIComponent(name)}/rebuild`, {});
  }

  /** The answering node's view of the cluster. */
  async cluster(): Promise<Record<string, unknown>> {
    return (await this.call('GET', '/v1/cluster', {})) as Record<string, unknown>;
  }

  // ------------------------------------------------------------------ transport

  private async call(method: 'GET' | 'POST', path: string, request: { body?: unknown; query?: object; headers?: Record<string, string> }): Promise<unknown> {
    const maxAttempts = this.o.retry?.maxAttempts ?? 8;
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(request.query ?? {})) if (v !== undefined) query.set(k, String(v));
    const suffix = query.size > 0 ? `?${query.toString()}` : '';
    let last: unknown;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      if (attempt > 0) await sleep(Math.max(this.backoff(attempt - 1), retryAfterMs(last, this.o.retry?.maxDelayMs ?? 2000)));
      let answer: Attempted;
      try {
        answer = await this.attempt(method, `${this.endpoint()}${path}${suffix}`, request);
      } catch (err) {
        last = err; // network failure or timeout: the outcome is unknown, the retry is idempotent
        this.rotate();
        continue;
      }
      if (answer.status < 300) return answer.body;
      const problem = (answer.body ?? {}) as ProblemBody;
      const error = errorFor(answer.status, problem);
      if (!isRetryable(answer.status, error.code)) throw error;
      last = error;
      if (answer.status !== 409) this.rotate();
    }
    throw new UnavailableError(`${method} ${path} failed ${maxAttempts} times; last: ${last instanceof Error ? last.message : String(last)}`, maxAttempts, { cause: last });
  }

  private async attempt(method: string, url: string, request: { body?: unknown; headers?: Record<string, string> }): Promise<Attempted> {
    const res = await this.fetchFn(url, {
      method,
      headers: { ...(request.body === undefined ? {} : { 'content-type': 'application/json' }), ...this.authHeader(), ...request.headers },
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = { code: 'BadResponse', detail: text.slice(0, 200) };
    }
    if (res.status >= 300) {
      const retryAfter = res.headers.get('retry-after');
      if (retryAfter !== null && typeof body === 'object' && body !== null) body = { ...body, retryAfterSeconds: Number(retryAfter) };
    }
    return { status: res.status, body };
  }

  private backoff(attempt: number): number {
    const base = this.o.retry?.baseDelayMs ?? 50;
    const max = this.o.retry?.maxDelayMs ?? 2000;
    return Math.floor(this.random() * Math.min(max, base * 2 ** attempt));
  }

  private endpoint(): string {
    return this.endpoints[this.next % this.endpoints.length] as string;
  }

  private rotate(): void {
    this.next = (this.next + 1) % this.endpoints.length;
  }

  private authHeader(): Record<string, string> {
    return this.o.adminToken === undefined ? {} : { authorization: `Bearer ${this.o.adminToken}` };
  }
}

/** Ids for events given without one: time-ordered (UUID version 7), which the store indexes cheapest. */
const eventIds = new EventIdGenerator(Date.now, (bytes) => randomFillSync(bytes));

/** Gives every event an id before the first attempt, so that every retry carries the same ones. */
function withIds(events: readonly NewEvent[]): NewEvent[] {
  return events.map((e) => ({ ...e, id: e.id ?? eventIds.next() }));
}

/** The node's Retry-After (seconds), as a minimum wait, capped. */
function retryAfterMs(last: unknown, cap: number): number {
  const seconds = last instanceof EventraftError ? last.problem.retryAfterSeconds : undefined;
  return typeof seconds === 'number' && Number.isFinite(seconds) ? Math.min(cap, seconds * 1000) : 0;
}

function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms));
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
