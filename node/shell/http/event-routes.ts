import { createHash, randomUUID } from 'node:crypto';
import type express from 'express';
import type { Request, Response } from 'express';
import { proposedEvent } from '../../core/eventstore/index.ts';
import type { AppendCommand, AppendOutcome, EventStoreStateMachine, ExpectedVersion, Json, ProposedEvent, StoredEvent, StreamAppend } from '../../core/eventstore/index.ts';
import { encodeCommand } from '../../core/eventstore/index.ts';
import type { Driver } from '../driver.ts';
import { NotLeaderError } from '../errors.ts';
import { HttpProblem } from './problem.ts';
import { ajv, check, consistency, idempotencyKey, intQuery, nameParam, route } from './request.ts';

export interface EventRoutesDeps {
  readonly driver: Driver<AppendOutcome>;
  readonly events: EventStoreStateMachine;
  readonly maxEventBytes: number;
  readonly maxAppendEvents: number;
  /** Milliseconds since the epoch, stamped on appended events (injected for tests). */
  readonly now: () => number;
}

const MAX_READ = 1_000;
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

/**
 * The event API (ARCHITECTURE §6): appends to one stream or atomically to several, reads of a
 * stream and of the global log at the requested consistency.
 */
export function registerEventRoutes(app: express.Express, deps: EventRoutesDeps): void {
  const { driver, events } = deps;

  app.post(
    '/v1/streams/:stream/events',
    route(async (req, res) => {
      const stream = nameParam(req, 'stream', 'Stream');
      check(streamAppendBody, req.body);
      const body = req.body as Omit<StreamAppendInput, 'stream'>;
      const outcome = await append(req, [{ stream, ...body }]);
      res.status(201).json({ ...outcome.results[0], duplicate: outcome.duplicate });
    }),
  );

  app.post(
    '/v1/events',
    route(async (req, res) => {
      check(multiAppendBody, req.body);
      const { appends } = req.body as { appends: StreamAppendInput[] };
      const names = new Set(appends.map((a) => a.stream));
      if (names.size !== appends.length) throw new HttpProblem({ status: 400, code: 'InvalidRequest', title: 'Invalid request body', detail: 'a stream appears twice; put its events in one append' });
      const outcome = await append(req, appends);
      res.status(201).json({ results: outcome.results, duplicate: outcome.duplicate });
    }),
  );

  app.get(
    '/v1/streams/:stream/events',
    route(async (req, res) => {
      const stream = nameParam(req, 'stream', 'Stream');
      const direction = req.query.direction ?? 'forward';
      if (direction !== 'forward' && direction !== 'backward') throw new HttpProblem({ status: 400, code: 'InvalidQuery', title: 'Invalid query parameter', detail: 'direction must be forward or backward' });
      const from = intQuery(req, 'from', direction === 'forward' ? 0 : Number.MAX_SAFE_INTEGER);
      const limit = intQuery(req, 'limit', 100, MAX_READ);
      await readBarrier(req);
      const version = events.reader.streamVersion(stream);
      const found = events.reader.readStream(stream, from, limit, direction);
      sendEvents(res, `"stream":${JSON.stringify(stream)},"version":${version}`, found);
    }),
  );

  app.get(
    '/v1/events',
    route(async (req, res) => {
      const fromPosition = intQuery(req, 'fromPosition', 0);
      const limit = intQuery(req, 'limit', 100, MAX_READ);
      await readBarrier(req);
      const found = events.reader.readAll(fromPosition, limit);
      sendEvents(res, `"headPosition":${events.nextPosition - 1}`, found);
    }),
  );

  /** Waits until this node's state reflects what the requested consistency promises. */
  async function readBarrier(req: Request): Promise<void> {
    const c = consistency(req);
    if (c === 'strong') await driver.readBarrier();
    else if (c === 'leader' && !driver.isLeader()) throw new NotLeaderError(driver.leaderId());
  }

  async function append(req: Request, appends: readonly StreamAppendInput[]): Promise<Extract<AppendOutcome, { ok: true }>> {
    const key = idempotencyKey(req);
    const total = appends.reduce((n, a) => n + a.events.length, 0);
    if (total > deps.maxAppendEvents) {
      throw new HttpProblem({ status: 413, code: 'AppendTooLarge', title: 'Too many events in one append', detail: `${total} events; the limit is ${deps.maxAppendEvents}` });
    }
    const command: AppendCommand = {
      type: 'Append',
      timestamp: deps.now(),
      appends: appends.map((a): StreamAppend => ({ stream: a.stream, expectedVersion: a.expectedVersion ?? 'any', events: a.events.map((e, i) => toProposed(e, key, a.stream, i)) })),
    };
    const outcome = await driver.propose(encodeCommand(command), key);
    if (outcome.ok) return outcome;
    switch (outcome.error) {
      case 'WrongExpectedVersion':
        throw new HttpProblem({
          status: 409,
          code: 'WrongExpectedVersion',
          title: 'Wrong expected version',
          detail: `stream ${outcome.stream} is at version ${outcome.actual}, the append expected ${String(outcome.expected)}`,
          extra: { stream: outcome.stream, expected: outcome.expected, actual: outcome.actual },
        });
      case 'EventIdConflict':
        throw new HttpProblem({ status: 409, code: 'EventIdConflict', title: 'Event ids already used', detail: outcome.detail });
      default:
        throw new HttpProblem({ status: 400, code: 'InvalidCommand', title: 'Invalid append', detail: outcome.detail });
    }
  }

  function toProposed(e: EventInput, key: string | undefined, stream: string, i: number): ProposedEvent {
    const size = Buffer.byteLength(JSON.stringify(e.data)) + (e.metadata === undefined ? 0 : Buffer.byteLength(JSON.stringify(e.metadata)));
    if (size > deps.maxEventBytes) {
      throw new HttpProblem({ status: 413, code: 'EventTooLarge', title: 'Event too large', detail: `event ${i} of stream ${stream} is ${size} bytes of data and metadata; the limit is ${deps.maxEventBytes}` });
    }
    // Without an id, one derives from the Idempotency-Key, so a retried request appends once.
    const id = e.id ?? (key === undefined ? randomUUID() : derivedId(key, stream, i));
    return proposedEvent({ ...e, id });
  }
}

/** A UUID-shaped id from the idempotency key, the stream and the event's place in the request. */
function derivedId(key: string, stream: string, i: number): string {
  const h = createHash('sha256').update(`${key}\n${stream}\n${i}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

/** Writes events as stored, without re-encoding them. */
function sendEvents(res: Response, fields: string, found: readonly StoredEvent[]): void {
  res.type('application/json').send(`{${fields},"events":[${found.map((e) => e.json).join(',')}]}`);
}
