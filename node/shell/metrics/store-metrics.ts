import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { REMEMBERED_REFUSALS } from '../../core/eventstore/index.ts';

/** The event store's metrics (ARCHITECTURE §7). */
export class StoreMetrics {
  /** Events stored on this node (counted as they are applied, so every replica counts them). */
  readonly eventsAppended: Counter;
  /** Time from receiving an append or a command to acknowledging it, on the node that received it. */
  readonly appendDuration: Histogram;

  /** `refusedAppends`: how many refused appends the store remembers now, read at each scrape. */
  constructor(registry: Registry, sources: { readonly refusedAppends: () => number }) {
    const registers = [registry];
    new Gauge({
      name: 'eventraft_store_refused_appends',
      help: `Refused appends this node remembers so that a late copy of one is refused too (at most ${String(REMEMBERED_REFUSALS)})`,
      registers,
      collect() {
        this.set(sources.refusedAppends());
      },
    });
    this.eventsAppended = new Counter({ name: 'eventraft_events_appended_total', help: 'Events stored by this node', registers });
    this.appendDuration = new Histogram({
      name: 'eventraft_append_duration_seconds',
      help: 'Latency of appends and commands acknowledged by this node, by kind and outcome',
      labelNames: ['kind', 'outcome'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
  }
}
