import { timingSafeEqual } from 'node:crypto';
import type { RequestListener } from 'node:http';
import express from 'express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AppendOutcome, EventStoreStateMachine } from '../../core/eventstore/index.ts';
import { isLearner, isVoter } from '../../core/raft/index.ts';
import type { NodeId } from '../../core/raft/index.ts';
import type { Driver } from '../driver.ts';
import type { CommandService, DomainRegistry } from '../domains/index.ts';
import { registerAggregateRoutes } from './aggregate-routes.ts';
import { HttpMetrics } from './http-metrics.ts';
import type { AggregateCache, ProjectionCache, RedisCache } from '../cache/index.ts';
import type { StoreMetrics } from '../metrics/store-metrics.ts';
import type { ProjectionRunner } from '../projections/index.ts';
import { registerEventRoutes } from './event-routes.ts';
import { fastRoutes } from './fast-routes.ts';
import { registerProjectionRoutes } from './projection-routes.ts';
import { registerSubscriptionRoutes } from './subscription-routes.ts';
import { readBarrierFor } from './read-barrier.ts';
import { HttpProblem, sendProblem, toProblem } from './problem.ts';
import { ajv, check, route, timer } from './request.ts';

export interface HttpAppDeps {
  readonly driver: Driver<AppendOutcome>;
  readonly events: EventStoreStateMachine;
  readonly domains: DomainRegistry;
  readonly commands: CommandService;
  readonly projections: ProjectionRunner;
  readonly requestTimeoutMs: number;
  readonly storeMetrics?: StoreMetrics;
  readonly registry: Registry;
  readonly log: Logger;
  readonly maxBodyBytes: number;
  readonly maxEventBytes: number;
  readonly maxAppendEvents: number;
  readonly adminToken: string | undefined;
  readonly aggregates: AggregateCache;
  /** Projection rows, through the cache when one is configured. */
  readonly projectionRows: ProjectionCache;
  /** The Redis cache, when one is configured (its state shows in /v1/cluster). */
  readonly cache: RedisCache | undefined;
  /** Milliseconds since the epoch (injectable for tests). */
  readonly now?: () => number;
}

const memberBody = ajv.compile({
  type: 'object',
  additionalProperties: false,
  required: ['id', 'address'],
  properties: {
    id: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$' },
    address: { type: 'string', pattern: '^(\\[[^\\]]+\\]|[^:\\s/]+):\\d{1,5}(/(\\[[^\\]]+\\]|[^:\\s/]+):\\d{1,5})?$' },
  },
});
const leadershipBody = ajv.compile({ type: 'object', additionalProperties: false, properties: { to: { type: 'string', minLength: 1 } } });

/**
 * The node's HTTP API (ARCHITECTURE §6): the event API, cluster status and admin, health and
 * metrics. Express serves it all, but for the plain form of an append to one stream, of a command
 * and of a read of a stream, which fast-routes.ts takes first.
 */
export function createHttpApp(deps: HttpAppDeps): RequestListener {
  const { driver, log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // Express would hash every response body (SHA-1) for a weak ETag: 0.7% of a leader's CPU under
  // appends, for conditional GETs no client of ours makes (a read is cheaper to redo than to hash).
  app.set('etag', false);

  const httpMetrics = new HttpMetrics(deps.registry);
  app.use((req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      const routePath = (req.route as { path?: string } | undefined)?.path;
      httpMetrics.observe(routePath === undefined ? 'unmatched' : `${req.method} ${routePath}`, res.statusCode, started);
    });
    next();
  });
  app.use(express.json({ limit: deps.maxBodyBytes, type: ['application/json', 'application/*+json'] }));

  const admin: RequestHandler = (req, _res, next) => {
    const token = deps.adminToken;
    if (token === undefined) {
      next();
      return;
    }
    const given = /^Bearer (.+)$/.exec(req.get('Authorization') ?? '')?.[1] ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(token);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      next(new HttpProblem({ status: 401, code: 'Unauthorized', title: 'Admin token required', detail: 'send Authorization: Bearer <admin token>' }));
      return;
    }
    next();
  };

  // ---- health and metrics
  app.get('/livez', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const s = driver.status();
    const member = isVoter(s.membership, s.id) || isLearner(s.membership, s.id);
    const reasons: string[] = [];
    if (!member) reasons.push('not a member of the cluster (yet)');
    if (s.leaderId === '') reasons.push('no leader known');
    if (s.appliedIndex < s.commitIndex) reasons.push(`applying: ${s.appliedIndex} of ${s.commitIndex}`);
    if (reasons.length === 0) res.json({ status: 'ready', leader: s.leaderId, appliedIndex: s.appliedIndex });
    else sendProblem(res, { status: 503, code: 'NotReady', title: 'Not ready', detail: reasons.join('; ') });
  });
  app.get(
    '/metrics',
    route(async (_req, res) => {
      res.type(deps.registry.contentType).send(await deps.registry.metrics());
    }),
  );

  // ---- cluster
  app.get('/v1/cluster', (_req, res) => {
    const s = driver.status();
    const progress = new Map(s.progress.map((p) => [p.id, p]));
    const members = [...s.membership.voters.map((id) => ({ id, role: 'voter' as const })), ...s.membership.learners.map((id) => ({ id, role: 'learner' as const }))].map((m) => {
      const address = driver.addressOf(m.id);
      return { id: m.id, role: m.role, address: address?.peer ?? null, httpAddress: address?.http ?? null, match: progress.get(m.id)?.match ?? null };
    });
    // The store's own view: replicas at the same applied index have the same hash.
    const store = { appliedIndex: deps.events.appliedIndex, events: deps.events.nextPosition, hash: deps.events.stateHash };
    const cache = deps.cache === undefined ? { enabled: false } : { enabled: true, circuit: deps.cache.circuitState };
    res.json({ id: s.id, role: s.role.toLowerCase(), term: s.term, leader: s.leaderId || null, commitIndex: s.commitIndex, appliedIndex: s.appliedIndex, members, store, cache });
  });
  app.post(
    '/v1/cluster/members',
    admin,
    route(async (req, res) => {
      check(memberBody, req.body);
      const { id, address } = req.body as { id: string; address: string };
      const index = await driver.changeMembership({ type: 'AddLearner', nodeId: id as NodeId, address });
      res.status(201).json({ id, role: 'learner', index });
    }),
  );
  app.post(
    '/v1/cluster/members/:id/promote',
    admin,
    route(async (req, res) => {
      const id = req.params.id as NodeId;
      const index = await driver.changeMembership({ type: 'PromoteLearner', nodeId: id });
      res.json({ id, role: 'voter', index });
    }),
  );
  app.delete(
    '/v1/cluster/members/:id',
    admin,
    route(async (req, res) => {
      const id = req.params.id as NodeId;
      const index = await driver.changeMembership({ type: 'RemoveNode', nodeId: id });
      res.json({ id, removed: true, index });
    }),
  );
  app.post(
    '/v1/cluster/leadership',
    admin,
    route((req, res) => {
      check(leadershipBody, req.body);
      const to = (req.body as { to?: string } | undefined)?.to as NodeId | undefined;
      const transferee = driver.transferLeadership(to);
      res.status(202).json({ transferee });
    }),
  );
  app.post(
    '/v1/cluster/snapshot',
    admin,
    route(async (_req, res) => {
      res.json({ index: await driver.snapshotNow() });
    }),
  );

  const readBarrier = readBarrierFor(driver);
  const timed = timer(deps.storeMetrics);
  const streamRoutes = registerEventRoutes(app, { driver, events: deps.events, registry: deps.domains, readBarrier, maxEventBytes: deps.maxEventBytes, maxAppendEvents: deps.maxAppendEvents, now: deps.now ?? Date.now, timed });
  const commandRoute = registerAggregateRoutes(app, { events: deps.events, registry: deps.domains, commands: deps.commands, readBarrier, timed, aggregates: deps.aggregates });
  registerSubscriptionRoutes(app, {
    events: deps.events,
    domains: deps.domains,
    onApplied: (listener) => {
      driver.onApplied(listener);
    },
  });
  registerProjectionRoutes(app, { events: deps.events, projections: deps.projections, rows: deps.projectionRows, readBarrier, admin, requestTimeoutMs: deps.requestTimeoutMs });

  app.use((_req, _res, next) => {
    next(new HttpProblem({ status: 404, code: 'NotFound', title: 'No such endpoint' }));
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) {
      // A streaming answer (a subscription) failed midway: no problem document can follow the
      // events already sent, so log it and end the stream; the client resumes elsewhere.
      log.warn({ err, method: req.method, path: req.path }, 'streaming response failed');
      res.end();
      return;
    }
    const p = toProblem(err);
    if (p !== undefined) {
      sendProblem(res, p);
      return;
    }
    log.error({ err, method: req.method, path: req.path }, 'request failed');
    sendProblem(res, { status: 500, code: 'InternalError', title: 'Internal error' });
  });
  const fast = fastRoutes({ routes: [...streamRoutes, commandRoute], metrics: httpMetrics, maxBodyBytes: deps.maxBodyBytes, log });
  return (req, res) => {
    if (!fast(req, res)) app(req, res);
  };
}
