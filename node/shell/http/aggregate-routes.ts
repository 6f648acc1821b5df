import type express from 'express';
import type { EventStoreStateMachine, Json } from '../../core/eventstore/index.ts';
import type { AggregateCache } from '../cache/index.ts';
import type { CommandService, DomainRegistry } from '../domains/index.ts';
import { HttpProblem } from './problem.ts';
import { consistency, idempotencyKey, nameParam, route } from './request.ts';
import type { TimedWrite } from './request.ts';
import type { ReadBarrier } from './read-barrier.ts';

export interface AggregateRoutesDeps {
  readonly events: EventStoreStateMachine;
  readonly registry: DomainRegistry;
  readonly commands: CommandService;
  readonly readBarrier: ReadBarrier;
  readonly timed: TimedWrite;
  /** Aggregate state through the Redis cache (or straight from the store without one). */
  readonly aggregates: AggregateCache;
}

const MAX_BATCH = 100;

/** Aggregates (ARCHITECTURE §6): commands, and state folded from the aggregate's stream. */
export function registerAggregateRoutes(app: express.Express, deps: AggregateRoutesDeps): void {
  const { registry, commands, readBarrier, aggregates } = deps;

  app.post(
    '/v1/aggregates/:type/:id/commands/:command',
    route(async (req, res) => {
      const type = nameParam(req, 'type', 'AggregateType');
      const id = nameParam(req, 'id', 'AggregateId');
      const command = nameParam(req, 'command', 'Command');
      const key = idempotencyKey(req);
      const result = await deps.timed('command', () => commands.execute(type, id, command, (req.body ?? {}) as Json, key));
      res.json(result);
    }),
  );

  app.get(
    '/v1/aggregates/:type/:id',
    route(async (req, res) => {
      const type = knownType(nameParam(req, 'type', 'AggregateType'));
      const id = nameParam(req, 'id', 'AggregateId');
      await readBarrier(req);
      // strong and leader reads must reflect this node's state as of the barrier; eventual reads
      // may take the cached state as it is.
      const view = await aggregates.read(type, id, consistency(req) !== 'eventual');
      if (view.version === -1) throw new HttpProblem({ status: 404, code: 'AggregateNotFound', title: 'Aggregate not found', detail: `${type} ${id} has no events` });
      res.json(view);
    }),
  );

  app.get(
    '/v1/aggregates/:type',
    route(async (req, res) => {
      const type = knownType(nameParam(req, 'type', 'AggregateType'));
      const raw = req.query.ids;
      const ids = typeof raw === 'string' && raw !== '' ? raw.split(',') : [];
      if (ids.length === 0 || ids.length > MAX_BATCH || ids.some((id) => !/^[A-Za-z0-9._~:@!$&'()*+;=-]{1,256}$/.test(id))) {
        throw new HttpProblem({ status: 400, code: 'InvalidQuery', title: 'Invalid query parameter', detail: `ids must list 1-${MAX_BATCH} aggregate ids, comma-separated` });
      }
      await readBarrier(req);
      // Missing aggregates are listed with version -1 and null state, so callers can tell.
      const views = await aggregates.readMany(type, ids, consistency(req) !== 'eventual');
      res.json({ type, aggregates: views });
    }),
  );

  function knownType(type: string): string {
    if (registry.domain(type) === undefined) throw new HttpProblem({ status: 404, code: 'UnknownAggregateType', title: 'Unknown aggregate type', detail: `known types: ${registry.types.join(', ')}` });
    return type;
  }
}
