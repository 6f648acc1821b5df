import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { circuitStateValue } from '../cache/circuit-breaker.ts';
import type { CircuitState } from '../cache/circuit-breaker.ts';

/** Outcome of one cached read: served from the cache, loaded (miss), loaded because the cached version was older (stale), or loaded because the cache failed (error). */
export type CacheResult = 'hit' | 'miss' | 'stale' | 'error';

/** The cache's metrics (ARCHITECTURE §7). Hit ratio: hit / sum over all results. */
export class CacheMetrics {
  readonly requests: Counter<'result' | 'kind'>;
  readonly localReads: Counter<'kind'>;
  readonly duration: Histogram<'op' | 'outcome'>;
  readonly circuitState: Gauge;
  readonly invalidations: Counter<'outcome'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({ name: 'eventraft_cache_requests_total', help: 'Cached reads by result (hit, miss, stale, error) and kind (aggregate, projection)', labelNames: ['result', 'kind'], registers });
    this.localReads = new Counter({
      name: 'eventraft_cache_local_reads_total',
      help: 'Reads answered from state this node holds in memory (kept aggregate states) without asking the cache, by kind',
      labelNames: ['kind'],
      registers,
    });
    this.duration = new Histogram({
      name: 'eventraft_cache_duration_seconds',
      help: 'Latency of Redis commands by operation and outcome (ok, error: failed, timed out or refused by the open circuit)',
      labelNames: ['op', 'outcome'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers,
    });
    this.circuitState = new Gauge({ name: 'eventraft_cache_circuit_state', help: 'Redis circuit breaker: 0 closed, 1 half-open, 2 open', registers });
    this.invalidations = new Counter({ name: 'eventraft_cache_invalidations_total', help: 'Cache keys invalidated after apply, by outcome (sent, lost)', labelNames: ['outcome'], registers });
    for (const result of ['hit', 'miss', 'stale', 'error']) for (const kind of ['aggregate', 'projection']) this.requests.inc({ result, kind }, 0);
    for (const outcome of ['sent', 'lost']) this.invalidations.inc({ outcome }, 0);
    for (const kind of ['aggregate', 'projection']) this.localReads.inc({ kind }, 0);
  }

  setCircuit(state: CircuitState): void {
    this.circuitState.set(circuitStateValue[state]);
  }
}
