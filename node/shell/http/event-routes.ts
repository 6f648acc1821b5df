import { randomFillSync } from 'node:crypto';
import type express from 'express';
import { EventIdGenerator, proposedEvent } from '../../core/eventstore/index.ts';
import type { AppendCommand, AppendOutcome, EventStoreStateMachine, ExpectedVersion, Json, ProposedEvent, StoredEvent, StreamAppend, StreamAppendResult } from '../../core/eventstore/index.ts';
import { encodeCommand } from '../../core/eventstore/index.ts';
import { derivedEventId } from '../domains/index.ts';
import type { Driver } from '../driver.ts';
import type { DomainRegistry } from '../domains/index.ts';
import { HttpProblem } from './problem.ts';
import type { ReadBarrier } from './read-barrier.ts';
import type { FastRoute } from './fast-routes.ts';
import { ajv, check, checkIdempotencyKey, headerValue, checkName, consistency, consistencyOf, intQuery, intQueryOf, nameParam, route } from './request.ts';
import type { Query, TimedWrite } from './request.ts';

export interface EventRoutesDeps {
  readonly driver: Driver<AppendOutcome>;
  readonly events: EventStoreStateMachine;
  readonly registry: DomainRegistry;
  readonly readBarrier: ReadBarrier;
  readonly maxEventBytes: number;
  readonly maxAppendEvents: number;
  /** Milliseconds since the epoch, stamped on appended events (injected for tests). */
  readonly now: () => number;
  readonly timed: TimedWrite;
}

const MAX_READ = 1_000;
/** Event JSON per page of a stream or of the global log, about: with large events a page ends before `limit`. */
const MAX_READ_BYTES = 16 * 2 ** 20;
const NAME = { type: 'string', minLength: 1, maxLength: 256 } as const;
const expectedVersionSchema = { oneOf: [{ enum: ['any', 'no_stream', 'exists'] }, { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER }] } as const;
const eventSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'data'],
  properties: { id: NAME, type: NAME, data: {}, metadata: {}, schemaVersion: { type: 'integer', minimum: 1, maximum: 1_000_000 } },
} as const;
const streamAppendBody = ajv.compile({
  type: 'object',
  additionalProperties: false,
  required: ['events'],
  properties: { expectedVersion: expectedVersionSchema, events: { type: 'array', minItems: 1, items: eventSchema } },
});
const multiAppendBody = ajv.compile({
  type: 'object',
  additionalProperties: false,
  required: ['appends'],
  properties: {
    appends: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      items: { type: 'object', additionalProperties: false, required: ['stream', 'events'], properties: { stream: NAME, expectedVersion: expectedVersionSchema, events: { type: 'array', minItems: 1, items: eventSchema } } },
    },
  },
});

interface EventInput {
  id?: string;
  type: string;
  data: Json;
  metadata?: Json;
  schemaVersion?: number;
}
interface StreamAppendInput {
  stream: string;
  expectedVersion?: ExpectedVersion;
  events: EventInput[];
}

/** What an append to one stream answers (201). */
type StreamAppendAnswer = StreamAppendResult & { readonly duplicate: boolean };

const APPEND_ROUTE = '/v1/streams/:stream/events';
const READ_ROUTE = APPEND_ROUTE;
const STREAM_EVENTS_PATH = /^\/v1\/streams\/([^/?#%]+)\/events$/;

/**
 * The event API (ARCHITECTURE §6): appends to one stream or atomically to several, reads of a
 * stream and of the global log at the requested consistency. Returns the append to one stream
 * and the read of a stream for the fast path (fast-routes.ts), which takes their plain form
 * before express.
 */
export function registerEventRoutes(app: express.Express, deps: EventRoutesDeps): FastRoute[] {
  const { driver, events, registry, readBarrier } = deps;
  // Ids for events sent without one: time-ordered, so that the ids index grows at its edge.
  const eventIds = new EventIdGenerator(deps.now, (bytes) => randomFillSync(bytes));

  /** Checks the body (parsed JSON) and the Idempotency-Key header, appends, and answers. */
  async function appendToStream(stream: string, body: unknown, idempotencyKeyHeader: string | undefined): Promise<StreamAppendAnswer> {
    check(streamAppendBody, body);
    const input = body as Omit<StreamAppendInput, 'stream'>;
    const outcome = await deps.timed('append', () => append(idempotencyKeyHeader, [{ stream, ...input }]));
    return { ...(outcome.results[0] as StreamAppendResult), duplicate: outcome.duplicate };
  }

  app.post(
    APPEND_ROUTE,
    route(async (req, res) => {
      res.status(201).json(await appendToStream(nameParam(req, 'stream', 'Stream'), req.body, req.get('Idempotency-Key')));
    }),
  );

  app.post(
    '/v1/events',
    route(async (req, res) => {
      check(multiAppendBody, req.body);
      const { appends } = req.body as { appends: StreamAppendInput[] };
      const names = new Set(appends.map((a) => a.stream));
      if (names.size !== appends.length) throw new HttpProblem({ status: 400, code: 'InvalidRequest', title: 'Invalid request body', detail: 'a stream appears twice; put its events in one append' });
      const outcome = await deps.timed('append', () => append(req.get('Idempotency-Key'), appends));
      res.status(201).json({ results: outcome.results, duplicate: outcome.duplicate });
    }),
  );

  /** A page of a stream, as the JSON text of the answer. */
  async function readStream(streamParam: unknown, query: Query): Promise<string> {
    const stream = checkName(streamParam, 'Stream');
    const direction = query.direction ?? 'forward';
    if (direction !== 'forward' && direction !== 'backward') throw new HttpProblem({ status: 400, code: 'InvalidQuery', title: 'Invalid query parameter', detail: 'direction must be forward or backward' });
    const from = intQueryOf(query, 'from', direction === 'forward' ? 0 : Number.MAX_SAFE_INTEGER);
    const limit = intQueryOf(query, 'limit', 100, MAX_READ);
    await readBarrier(consistencyOf(query));
    const version = events.reader.streamVersion(stream);
    const found = events.reader.readStream(stream, from, limit, direction, MAX_READ_BYTES).map((e) => registry.view(e));
    return eventsJson(`"stream":${JSON.stringify(stream)},"version":${version}`, found);
  }

  app.get(
    READ_ROUTE,
    route(async (req, res) => {
      res.type('application/json').send(await readStream(req.params.stream, req.query));
    }),
  );

  app.get(
    '/v1/events',
    route(async (req, res) => {
      const fromPosition = intQuery(req, 'fromPosition', 0);
      const limit = intQuery(req, 'limit', 100, MAX_READ);
      await readBarrier(consistency(req));
      const found = events.reader.readAll(fromPosition, limit, MAX_READ_BYTES).map((e) => registry.view(e));
      res.type('application/json').send(eventsJson(`"headPosition":${events.nextPosition - 1}`, found));
    }),
  );

  async function append(idempotencyKeyHeader: string | undefined, appends: readonly StreamAppendInput[]): Promise<Extract<AppendOutcome, { ok: true }>> {
    const key = checkIdempotencyKey(idempotencyKeyHeader);
    const total = appends.reduce((n, a) => n + a.events.length, 0);
    if (total > deps.maxAppendEvents) {
      throw new HttpProblem({ status: 413, code: 'AppendTooLarge', title: 'Too many events in one append', detail: `${total} events; the limit is ${deps.maxAppendEvents}` });
    }
    const command: AppendCommand = {
      type: 'Append',
      timestamp: deps.now(),
      appends: appends.map((a): StreamAppend => ({ stream: a.stream, expectedVersion: a.expectedVersion ?? 'any', events: a.events.map((e, i) => toProposed(e, key, a.stream, i)) })),
    };
    const early = await certainConflict(command);
    if (early !== undefined) throw wrongExpectedVersion(early);
    const outcome = await driver.propose(encodeCommand(command), key);
    if (outcome.ok) return outcome;
    switch (outcome.error) {
      case 'WrongExpectedVersion':
        throw wrongExpectedVersion(outcome);
      case 'EventIdConflict':
        throw new HttpProblem({ status: 409, code: 'EventIdConflict', title: 'Event ids already used', detail: outcome.detail });
      default:
        throw new HttpProblem({ status: 400, code: 'InvalidCommand', title: 'Invalid append', detail: outcome.detail });
    }
  }

  /**
   * An append whose expectation its stream has already passed cannot succeed (versions only
   * grow): it is answered without spending a log entry, an fsync on a majority and a round trip
   * on it. This node's state is behind the leader's at most, so a conflict seen here is certain;
   * a ReadIndex round then brings this node up to the commit index at the request's arrival, and
   * the conflict is judged again there, so that its `actual` is what a linearizable read would
   * see. A retried append (an event id already stored) never takes this way. See
   * docs/event-storage.md, "Early conflict answers".
   */
  async function certainConflict(command: AppendCommand): Promise<WrongExpectedVersion | undefined> {
    if (events.certainConflict(command) === undefined) return undefined;
    await driver.readBarrier();
    return events.certainConflict(command);
  }

  function toProposed(e: EventInput, key: string | undefined, stream: string, i: number): ProposedEvent {
    const size = Buffer.byteLength(JSON.stringify(e.data)) + (e.metadata === undefined ? 0 : Buffer.byteLength(JSON.stringify(e.metadata)));
    if (size > deps.maxEventBytes) {
      throw new HttpProblem({ status: 413, code: 'EventTooLarge', title: 'Event too large', detail: `event ${i} of stream ${stream} is ${size} bytes of data and metadata; the limit is ${deps.maxEventBytes}` });
    }
    // Without a schemaVersion, a declared event type is at its latest version (others at 1).
    const schemaVersion = e.schemaVersion ?? registry.latestSchemaVersion(e.type) ?? 1;
    const proposed = proposedEvent({ ...e, schemaVersion, id: e.id ?? (key === undefined ? eventIds.next() : derivedEventId(key, stream, i)) });
    // Declared event types are checked against their schema version: stored forever, they must
    // be readable forever. Undeclared types are free-form.
    const problems = registry.checkEvent(proposed.type, proposed.schemaVersion, proposed.data);
    if (problems.length > 0) {
      throw new HttpProblem({ status: 400, code: 'EventSchemaViolation', title: 'Event does not match its schema', detail: `event ${i} of stream ${stream} (${proposed.type} v${proposed.schemaVersion}): ${problems.join('; ')}`, extra: { errors: problems } });
    }
    return proposed;
  }

  return [
    {
      method: 'POST',
      label: `POST ${APPEND_ROUTE}`,
      path: STREAM_EVENTS_PATH,
      status: 201,
      handle: ([stream], body, headers) => appendToStream(checkName(stream, 'Stream'), body, headerValue(headers, 'idempotency-key')),
    },
    { method: 'GET', label: `GET ${READ_ROUTE}`, path: STREAM_EVENTS_PATH, handle: ([stream], query) => readStream(stream, query) },
  ];
}

type WrongExpectedVersion = Extract<AppendOutcome, { error: 'WrongExpectedVersion' }>;

function wrongExpectedVersion(outcome: WrongExpectedVersion): HttpProblem {
  const expected = String(outcome.expected);
  return new HttpProblem({
    status: 409,
    code: 'WrongExpectedVersion',
    title: 'Wrong expected version',
    detail:
      outcome.repeated === true
        ? `this append (the same event ids and expectations) was refused before, when stream ${outcome.stream} was at version ${outcome.actual} and it expected ${expected}; a copy gets the same answer. To try again, change the expectation or the event ids`
        : `stream ${outcome.stream} is at version ${outcome.actual}, the append expected ${expected}`,
    extra: { stream: outcome.stream, expected: outcome.expected, actual: outcome.actual, ...(outcome.repeated === true ? { repeated: true } : {}) },
  });
}

/** An answer of events as stored, without re-encoding them. */
function eventsJson(fields: string, found: readonly StoredEvent[]): string {
  return `{${fields},"events":[${found.map((e) => e.json).join(',')}]}`;
}
