import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * `eventraft_http_requests_total{route, code}` and `eventraft_http_request_duration_seconds{route}`,
 * shared by express's routes and the fast path (fast-routes.ts). `route` is the route's
 * pattern (`POST /v1/streams/:stream/events`), `unmatched` when none matched.
 */
export class HttpMetrics {
  private readonly requests: Counter<'route' | 'code'>;
  private readonly duration: Histogram<'route'>;
  /** Label children by route and code: prom-client hashes a label set on every call otherwise. */
  private readonly counted = new Map<string, Counter.Internal>();
  private readonly timed = new Map<string, Histogram.Internal<'route'>>();

  constructor(registry: Registry) {
    this.requests = new Counter({ name: 'eventraft_http_requests_total', help: 'HTTP requests by route and status code', labelNames: ['route', 'code'], registers: [registry] });
    this.duration = new Histogram({
      name: 'eventraft_http_request_duration_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
  }

  /** Records a finished request; `startedMs` is its performance.now() at arrival. */
  observe(route: string, code: number, startedMs: number): void {
    const key = `${route} ${String(code)}`;
    let counter = this.counted.get(key);
    if (counter === undefined) {
      counter = this.requests.labels(route, String(code));
      this.counted.set(key, counter);
    }
    counter.inc();
    let histogram = this.timed.get(route);
    if (histogram === undefined) {
      histogram = this.duration.labels(route);
      this.timed.set(route, histogram);
    }
    histogram.observe((performance.now() - startedMs) / 1000);
  }
}
