import type express from 'express';
import type { RequestHandler } from 'express';
import type { EventStoreStateMachine } from '../../core/eventstore/index.ts';
import type { ProjectionCache } from '../cache/index.ts';
import type { ProjectionRunner } from '../projections/index.ts';
import { HttpProblem } from './problem.ts';
import type { ReadBarrier } from './read-barrier.ts';
import { consistency, nameParam, route } from './request.ts';

export interface ProjectionRoutesDeps {
  readonly events: EventStoreStateMachine;
  readonly projections: ProjectionRunner;
  readonly rows: ProjectionCache;
  readonly readBarrier: ReadBarrier;
  readonly admin: RequestHandler;
  /** How long a strong read may wait for a projection to catch up. */
  readonly requestTimeoutMs: number;
}

/** Projections (ARCHITECTURE §6): status, rows by key at a consistency level, and rebuild. */
export function registerProjectionRoutes(app: express.Express, deps: ProjectionRoutesDeps): void {
  const { events, projections, rows, readBarrier } = deps;

  app.get('/v1/projections', (_req, res) => {
    res.json({ projections: projections.status() });
  });

  app.get(
    '/v1/projections/:name/:key',
    route(async (req, res) => {
      const name = nameParam(req, 'name', 'Projection');
      // express has decoded the path parameter already; decoding again would break keys with '%'.
      const key = req.params.key as string;
      if (key.length === 0 || key.length > 1024) throw new HttpProblem({ status: 400, code: 'InvalidKey', title: 'Invalid key', detail: 'keys are 1-1024 characters' });
      const level = consistency(req);
      await readBarrier(level);
      // strong and leader: the projection must reflect every event this node has applied (for
      // strong, that includes every write acknowledged before the read began).
      const strong = level !== 'eventual';
      if (strong) await projections.waitFor(name, events.nextPosition, deps.requestTimeoutMs);
      const row = await rows.read(name, key, strong);
      const checkpoint = projections.status().find((p) => p.name === name)?.checkpoint;
      if (row.value === undefined) throw new HttpProblem({ status: 404, code: 'RowNotFound', title: 'No such row', detail: `projection ${name} has no row ${key}`, extra: { checkpoint } });
      // version: the global position of the last event that set the row.
      res.json({ projection: name, key, value: row.value, version: row.version, checkpoint });
    }),
  );

  app.post(
    '/v1/projections/:name/rebuild',
    deps.admin,
    route((req, res) => {
      const name = nameParam(req, 'name', 'Projection');
      projections.rebuild(name);
      res.status(202).json({ projection: name, checkpoint: 0 });
    }),
  );
}
