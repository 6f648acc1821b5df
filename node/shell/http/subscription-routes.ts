import type express from 'express';
import type { Request, Response } from 'express';
import type { EventStoreStateMachine } from '../../core/eventstore/index.ts';
import type { DomainRegistry } from '../domains/index.ts';
import { HttpProblem } from './problem.ts';
import { intQuery, route } from './request.ts';

export interface SubscriptionRoutesDeps {
  readonly events: EventStoreStateMachine;
  readonly domains: DomainRegistry;
  /** Registers a callback run after every apply round (Driver.onApplied). */
  readonly onApplied: (listener: () => void) => void;
  /** Interval between keep-alive comments on an idle subscription. */
  readonly heartbeatMs?: number;
  /** Event JSON read (and written to the client as one chunk) per batch, about (default 4 MiB). */
  readonly batchBytes?: number;
}

/** Events per batch, at most; large events make smaller batches (batchBytes). */
const BATCH = 500;
const STREAM = /^[A-Za-z0-9._~:@!$&'()*+,;=-]{1,256}$/;

/**
 * Server-Sent Events subscriptions (ARCHITECTURE §6): catch up from a position, then stay live.
 * Each message's `id` is the event's global position, which is the same on every node, so a
 * client that reconnects to any node with `Last-Event-ID` resumes right after the last event it
 * got: each event is delivered once and in order, across failovers and restarts. Only committed
 * events are ever sent (nothing sent is ever taken back).
 */
export function registerSubscriptionRoutes(app: express.Express, deps: SubscriptionRoutesDeps): void {
  const { events, domains } = deps;
  const heartbeatMs = deps.heartbeatMs ?? 15_000;
  const batchBytes = deps.batchBytes ?? 4 * 2 ** 20;
  const waiting = new Set<() => void>();
  deps.onApplied(() => {
    for (const wake of waiting) wake();
    waiting.clear();
  });

  app.get(
    '/v1/subscriptions/events',
    route(async (req, res) => {
      const start = startPosition(req);
      const stream = req.query.stream;
      if (stream !== undefined && (typeof stream !== 'string' || !STREAM.test(stream))) {
        throw new HttpProblem({ status: 400, code: 'InvalidStream', title: 'Invalid stream', detail: 'stream names are 1-256 URL-safe characters' });
      }
      res.status(200);
      res.setHeader('content-type', 'text/event-stream; charset=utf-8');
      res.setHeader('cache-control', 'no-cache');
      res.setHeader('x-accel-buffering', 'no'); // proxies must not buffer a live stream
      res.flushHeaders();
      const client = { gone: false, wake: undefined as (() => void) | undefined };
      req.on('close', () => {
        client.gone = true;
        client.wake?.();
      });
      const heartbeat = setInterval(() => {
        res.write(': keep-alive\n\n');
      }, heartbeatMs);
      try {
        let position = start;
        while (!client.gone) {
          if (position >= events.nextPosition) {
            // Caught up: sleep until something is applied (or the client leaves).
            await new Promise<void>((resolve) => {
              client.wake = resolve;
              waiting.add(resolve);
            });
            if (client.wake !== undefined) waiting.delete(client.wake);
            continue;
          }
          const batch = events.reader.readAll(position, BATCH, batchBytes);
          if (batch.length === 0) break; // cannot happen below nextPosition; never spin
          let chunk = '';
          let lastSent = -1;
          for (const stored of batch) {
            if (stream !== undefined && stored.event.stream !== stream) continue;
            chunk += `id: ${stored.event.position}\ndata: ${domains.view(stored).json}\n\n`;
            lastSent = stored.event.position;
          }
          position = (batch.at(-1)?.event.position ?? position) + 1;
          // A filtered subscription still moves its id to the end of what it has examined, so a
          // resume does not scan the skipped events again.
          if (lastSent !== position - 1) chunk += `id: ${position - 1}\n\n`;
          if (!res.write(chunk)) await drained(res);
        }
      } finally {
        clearInterval(heartbeat);
        res.end();
      }
    }),
  );
}

/** Last-Event-ID (resume after it) wins over fromPosition (start at it); the default is 0. */
function startPosition(req: Request): number {
  const last = req.get('Last-Event-ID');
  if (last !== undefined) {
    if (!/^\d{1,16}$/.test(last)) throw new HttpProblem({ status: 400, code: 'InvalidLastEventId', title: 'Invalid Last-Event-ID', detail: 'Last-Event-ID is the position of the last event received' });
    return Number(last) + 1;
  }
  return intQuery(req, 'fromPosition', 0);
}

function drained(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}
