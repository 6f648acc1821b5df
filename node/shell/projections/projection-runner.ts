import type { Logger } from 'pino';
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { EventStoreStateMachine, Json, ProjectionDefinition } from '../../core/eventstore/index.ts';
import type { DomainRegistry } from '../domains/index.ts';
import type { ProjectionStore, RowChange } from './projection-store.ts';

/** Delay between apply and the projection round it triggers, to batch work. */
const ROUND_DELAY_MS = 5;
/** A projection whose events change no rows still records its checkpoint this often. */
const CHECKPOINT_EVERY_EVENTS = 10_000;
const CHECKPOINT_EVERY_MS = 1_000;

export class UnknownProjectionError extends Error {
  override readonly name = 'UnknownProjectionError';
}

/** The projection stopped on an event its handler could not process; a rebuild restarts it. */
export class ProjectionFailedError extends Error {
  override readonly name = 'ProjectionFailedError';
}

/** The projection did not reach the requested position in time. */
export class ProjectionLaggingError extends Error {
  override readonly name = 'ProjectionLaggingError';
}

export interface ProjectionStatus {
  readonly name: string;
  /** The next global position it will process: every event before it is reflected. */
  readonly checkpoint: number;
  readonly lag: number;
  readonly state: 'running' | 'failed';
  readonly error?: string;
}

interface Waiter {
  readonly position: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface Running {
  readonly definition: ProjectionDefinition;
  checkpoint: number;
  /** The checkpoint on disk; behind `checkpoint` only across events that changed no row. */
  stored: number;
  storedAt: number;
  failure: string | undefined;
  /** Rebuilding from position 0 and not caught up yet: its rows are history, not current. */
  rebuilding: boolean;
  waiters: Waiter[];
}

/** A projection row with its version (see ProjectionStore); value undefined: no such row. */
export interface ProjectionRow {
  readonly version: number;
  readonly value: Json | undefined;
}

/** Hears of committed row changes (after they are on disk) and of rebuilds. */
export interface ProjectionListener {
  rowsChanged(name: string, changes: ReadonlyMap<string, RowChange>): void;
  rebuilt(name: string): void;
}

export interface ProjectionRunnerOptions {
  readonly events: EventStoreStateMachine;
  readonly domains: DomainRegistry;
  readonly store: ProjectionStore;
  readonly log: Logger;
  readonly registry?: Registry;
  /** Events processed per projection between yields to the event loop (at most). */
  readonly batchSize?: number;
  /**
   * Event JSON read per projection between yields (about): large events make smaller batches, so
   * that a round holds a few MB, not batchSize events of up to the event size limit each.
   */
  readonly batchBytes?: number;
}

/**
 * Keeps the domains' projections (read models) up to date, asynchronously after apply: each one
 * reads the global log from its checkpoint, in order, never skipping an event, with event data
 * upcast to the latest schema version. Work is done in batches between turns of the event loop,
 * so neither apply nor requests wait for it.
 */
export class ProjectionRunner {
  private readonly o: ProjectionRunnerOptions;
  private readonly running = new Map<string, Running>();
  private readonly batchSize: number;
  private readonly batchBytes: number;
  private readonly lagGauge: Gauge | undefined;
  private scheduled = false;
  private stopped = false;
  private readonly listeners: ProjectionListener[] = [];

  constructor(o: ProjectionRunnerOptions) {
    this.o = o;
    this.batchSize = o.batchSize ?? 500;
    this.batchBytes = o.batchBytes ?? 8 * 2 ** 20;
    for (const definition of o.domains.projections) {
      const checkpoint = o.store.checkpoint(definition.name);
      this.running.set(definition.name, { definition, checkpoint, stored: checkpoint, storedAt: Date.now(), failure: undefined, rebuilding: false, waiters: [] });
    }
    this.lagGauge =
      o.registry === undefined
        ? undefined
        : new Gauge({ name: 'eventraft_projection_lag_events', help: 'Events applied on this node that a projection has not processed yet', labelNames: ['projection'], registers: [o.registry] });
  }

  /**
   * Asks for a round of processing (called after every apply round). Rounds are batched a few
   * milliseconds apart, so that a busy node does one projection transaction per batch of applies,
   * not one per Ready; a read waiting for a projection asks for the next turn instead.
   */
  notify(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    const run = (): void => {
      this.scheduled = false;
      this.round();
    };
    if ([...this.running.values()].some((r) => r.waiters.length > 0)) setImmediate(run);
    else setTimeout(run, ROUND_DELAY_MS);
  }

  status(): ProjectionStatus[] {
    return [...this.running.values()].map((r) => this.statusOf(r));
  }

  get(name: string, key: string): Json | undefined {
    return this.o.store.get(this.find(name).definition.name, key);
  }

  /** The row and its version, as of this projection's checkpoint. */
  row(name: string, key: string): ProjectionRow {
    const { store } = this.o;
    const projection = this.find(name).definition.name;
    const version = store.version(projection, key);
    return { version, value: version === -1 ? undefined : store.get(projection, key) };
  }

  /** The row's version alone (cheaper than the row). */
  version(name: string, key: string): number {
    return this.o.store.version(this.find(name).definition.name, key);
  }

  /** True while a rebuild has not caught up: rows then hold past values. */
  rebuilding(name: string): boolean {
    return this.find(name).rebuilding;
  }

  /** `listener` hears of every commit of changed rows and of every rebuild, synchronously. */
  listen(listener: ProjectionListener): void {
    this.listeners.push(listener);
  }

  /** Resolves once `name` has processed every event before `position`. */
  waitFor(name: string, position: number, timeoutMs: number): Promise<void> {
    const r = this.find(name);
    if (r.failure !== undefined) return Promise.reject(new ProjectionFailedError(r.failure));
    if (r.checkpoint >= position) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        r.waiters = r.waiters.filter((w) => w.timer !== timer);
        reject(new ProjectionLaggingError(`projection ${name} is at position ${r.checkpoint}, ${position - r.checkpoint} events short of ${position}, after ${timeoutMs} ms`));
      }, timeoutMs);
      r.waiters.push({ position, resolve, reject, timer });
      this.notify();
    });
  }

  /** Drops the projection's rows and processes the whole log again. */
  rebuild(name: string): void {
    const r = this.find(name);
    this.o.store.reset(name);
    r.checkpoint = 0;
    r.stored = 0;
    r.failure = undefined;
    r.rebuilding = true;
    for (const l of this.listeners) l.rebuilt(name);
    this.o.log.info({ projection: name }, 'projection rebuild started');
    this.notify();
  }

  stop(): void {
    this.stopped = true;
    for (const r of this.running.values()) {
      for (const w of r.waiters) {
        clearTimeout(w.timer);
        w.reject(new ProjectionLaggingError('node is shutting down'));
      }
      r.waiters = [];
    }
  }

  private round(): void {
    if (this.stopped) return;
    let more = false;
    for (const r of this.running.values()) {
      if (r.failure === undefined && !this.advance(r)) more = true;
      this.settle(r);
      this.lagGauge?.set({ projection: r.definition.name }, this.statusOf(r).lag);
    }
    if (more) this.notify();
  }

  /** Processes one batch; true when the projection has caught up with the log. */
  private advance(r: Running): boolean {
    const { events, domains, store } = this.o;
    const name = r.definition.name;
    const head = events.nextPosition;
    if (r.checkpoint >= head) {
      r.rebuilding = false;
      return true;
    }
    const batch = events.reader.readAll(r.checkpoint, this.batchSize, this.batchBytes);
    // Rows changed by the events processed so far in this batch, and by the current event.
    const changes = new Map<string, RowChange>();
    let current = new Map<string, Json | undefined>();
    const rows = {
      get: (key: string): Json | undefined => (current.has(key) ? current.get(key) : changes.has(key) ? changes.get(key)?.row : store.get(name, key)),
      set: (key: string, row: Json | undefined): void => {
        current.set(key, row);
      },
    };
    let next = r.checkpoint;
    for (const stored of batch) {
      try {
        r.definition.apply(domains.view(stored).event, rows);
      } catch (err) {
        // A handler bug: keep what the events before it did, and stop at this one.
        r.failure = `handler failed at position ${stored.event.position}: ${(err as Error).message}`;
        this.o.log.error({ projection: name, position: stored.event.position, err }, 'projection stopped: its handler failed; fix it and rebuild');
        break;
      }
      for (const [key, row] of current) changes.set(key, { row, version: stored.event.position });
      current = new Map();
      next++;
    }
    // Events that changed no row need no write: re-processing them after a crash changes nothing
    // either. The checkpoint still goes to disk now and then, so a restart does not go far back.
    const now = Date.now();
    if (changes.size > 0 || next - r.stored >= CHECKPOINT_EVERY_EVENTS || (next > r.stored && now - r.storedAt >= CHECKPOINT_EVERY_MS)) {
      store.commit(name, changes, next);
      r.stored = next;
      r.storedAt = now;
      if (changes.size > 0) for (const l of this.listeners) l.rowsChanged(name, changes);
    }
    r.checkpoint = next;
    if (next >= head) r.rebuilding = false;
    return r.failure !== undefined || next >= head;
  }

  private settle(r: Running): void {
    if (r.waiters.length === 0) return;
    const keep: Waiter[] = [];
    for (const w of r.waiters) {
      if (r.failure !== undefined) {
        clearTimeout(w.timer);
        w.reject(new ProjectionFailedError(r.failure));
      } else if (r.checkpoint >= w.position) {
        clearTimeout(w.timer);
        w.resolve();
      } else {
        keep.push(w);
      }
    }
    r.waiters = keep;
  }

  private statusOf(r: Running): ProjectionStatus {
    const lag = Math.max(0, this.o.events.nextPosition - r.checkpoint);
    return { name: r.definition.name, checkpoint: r.checkpoint, lag, state: r.failure === undefined ? 'running' : 'failed', ...(r.failure === undefined ? {} : { error: r.failure }) };
  }

  private find(name: string): Running {
    const r = this.running.get(name);
    if (r === undefined) throw new UnknownProjectionError(`no projection ${name} (known: ${[...this.running.keys()].join(', ')})`);
    return r;
  }
}
