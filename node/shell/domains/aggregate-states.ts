import { aggregateStream } from '../../core/eventstore/index.ts';
import type { EventStoreStateMachine } from '../../core/eventstore/index.ts';
import type { AggregateView, DomainRegistry } from './domain-registry.ts';

export interface AggregateStatesOptions {
  readonly events: EventStoreStateMachine;
  readonly registry: DomainRegistry;
  /** Aggregates whose folded state is kept; the least recently loaded go first. */
  readonly maxAggregates?: number;
}

/**
 * Aggregate states folded from their streams on this node, kept in memory so that loading an
 * aggregate again reads only the events appended since. Without them every command folded its
 * aggregate's whole stream: a cost that grew with the aggregate's age.
 *
 * Folding on from a kept state gives what folding the whole stream gives: events are immutable,
 * a node's store only grows (apply and restore only move it forward along the committed log), and
 * evolve is pure (docs/domains.md). Callers get the kept state itself, so decide and evolve must
 * not modify the state they are given, which the domain contract already forbids.
 */
export class AggregateStates {
  private readonly o: AggregateStatesOptions;
  private readonly maxAggregates: number;
  /** By stream, in the order last loaded (a Map iterates in insertion order). */
  private readonly kept = new Map<string, AggregateView>();

  constructor(o: AggregateStatesOptions) {
    this.o = o;
    this.maxAggregates = o.maxAggregates ?? 10_000;
  }

  /** The aggregate's state as of the events committed on this node (version -1: no events). */
  load(type: string, id: string): AggregateView {
    const { events, registry } = this.o;
    const stream = aggregateStream(type, id);
    const known = this.kept.get(stream);
    const head = events.reader.streamVersion(stream);
    // A stream shorter than the state kept for it would mean the store went back (defensive):
    // never trust the kept state then.
    const view = known === undefined || head < known.version ? registry.load(events, type, id, head) : registry.foldOn(events, known, head);
    this.kept.delete(stream);
    if (view.version >= 0) {
      this.kept.set(stream, view);
      if (this.kept.size > this.maxAggregates) this.kept.delete(this.kept.keys().next().value as string);
    }
    return view;
  }

  /**
   * What load() gives, but only for an aggregate whose state is kept (folded on through the
   * events committed since); undefined for one this node holds no state for, which load() would
   * fold from the start of its stream.
   */
  peek(type: string, id: string): AggregateView | undefined {
    return this.kept.has(aggregateStream(type, id)) ? this.load(type, id) : undefined;
  }

  /** How many aggregates have a kept state. */
  get size(): number {
    return this.kept.size;
  }
}
