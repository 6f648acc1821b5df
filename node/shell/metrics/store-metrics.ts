import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { REMEMBERED_REFUSALS } from '../../core/eventstore/index.ts';
import { volumeSpace } from '../storage/index.ts';

/** The event store's metrics (ARCHITECTURE §7). */
export class StoreMetrics {
  /** Events stored on this node (counted as they are applied, so every replica counts them). */
  readonly eventsAppended: Counter;
  /** Time from receiving an append or a command to acknowledging it, on the node that received it. */
  readonly appendDuration: Histogram;

  /**
   * Read at each scrape: `refusedAppends`, how many refused appends the store remembers now;
   * `eventStoreBytes`, the event store's size on disk; `dataDir`, whose volume is reported.
   */
  constructor(registry: Registry, sources: { readonly refusedAppends: () => number; readonly eventStoreBytes: () => number; readonly dataDir: string }) {
    const registers = [registry];
    new Gauge({
      name: 'eventraft_event_store_bytes',
      help: 'Bytes the event store (its lmdb environment in use) takes on disk',
      registers,
      collect() {
        this.set(sources.eventStoreBytes());
      },
    });
    // As kubelet_volume_stats_* do for a PVC, from the node itself (statfs of its data directory):
    // a snapshot install needs room for a second copy of the store (docs/operations.md, "Storage").
    const volume = (field: (s: ReturnType<typeof volumeSpace>) => number) =>
      function (this: Gauge) {
        try {
          this.set(field(volumeSpace(sources.dataDir)));
        } catch {
          this.set(Number.NaN); // unknown, not 0 (which an alert would take for a full volume)
        }
      };
    new Gauge({ name: 'eventraft_volume_available_bytes', help: 'Bytes available to the node on the volume of its data directory', registers, collect: volume((s) => s.availableBytes) });
    new Gauge({ name: 'eventraft_volume_capacity_bytes', help: 'Size of the volume of the node\'s data directory', registers, collect: volume((s) => s.capacityBytes) });
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
