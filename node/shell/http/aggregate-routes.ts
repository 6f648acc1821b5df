import type express from 'express';
import type { EventStoreStateMachine, Json } from '../../core/eventstore/index.ts';
import type { AggregateCache } from '../cache/index.ts';
import type { CommandService, DomainRegistry } from '../domains/index.ts';
import { HttpProblem } from './problem.ts';
import type { FastRoute } from './fast-routes.ts';
import { checkIdempotencyKey, checkName, consistency, headerValue, nameParam, route } from './request.ts';
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

const COMMAND_ROUTE = '/v1/aggregates/:type/:id/commands/:command';

/**
 * Aggregates (ARCHITECTURE §6): commands, and state folded from the aggregate's stream. Returns
 * the command route for the fast path (fast-routes.ts), which takes its plain form before express.
 */
export function registerAggregateRoutes(app: express.Express, deps: AggregateRoutesDeps): FastRoute {
  const { registry, commands, readBarrier, aggregates } = deps;

  /** Checks the names and the Idempotency-Key header, then executes the command. */
  function execute(names: readonly unknown[], body: unknown, idempotencyKeyHeader: string | undefined): Promise<unknown> {
    const type = checkName(names[0], 'AggregateType');
    const id = checkName(names[1], 'AggregateId');
    const command = checkName(names[2], 'Command');
    const key = checkIdempotencyKey(idempotencyKeyHeader);
    return deps.timed('command', () => commands.execute(type, id, command, (body ?? {}) as Json, key));
  }

  app.post(
    COMMAND_ROUTE,
    route(async (req, res) => {
      res.json(await execute([req.params.type, req.params.id, req.params.command], req.body, req.get('Idempotency-Key')));
    }),
  );

  app.get(
    '/v1/aggregates/:type/:id',
    route(async (req, res) => {
      const type = knownType(nameParam(req, 'type', 'AggregateType'));
      const id = nameParam(req, 'id', 'AggregateId');
      const level = consistency(req);
      await readBarrier(level);
      // strong and leader reads must reflect this node's state as of the barrier; eventual reads
      // may take the cached state as it is.
      const view = await aggregates.read(type, id, level !== 'eventual');
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
      const level = consistency(req);
      await readBarrier(level);
      // Missing aggregates are listed with version -1 and null state, so callers can tell.
      const views = await aggregates.readMany(type, ids, level !== 'eventual');
      res.json({ type, aggregates: views });
    }),
  );

  return {
    method: 'POST',
    label: `POST ${COMMAND_ROUTE}`,
    path: /^\/v1\/aggregates\/([^/?#%]+)\/([^/?#%]+)\/commands\/([^/?#%]+)$/,
    status: 200,
    handle: (names, body, headers) => execute(names, body, headerValue(headers, 'idempotency-key')),
  };

  function knownType(type: string): string {
    if (registry.domain(type) === undefined) throw new HttpProblem({ status: 404, code: 'UnknownAggregateType', title: 'Unknown aggregate type', detail: `known types: ${registry.types.join(', ')}` });
    return type;
  }
}
