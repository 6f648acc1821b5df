import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The operator's metrics (ARCHITECTURE §7), on its own registry. */
export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles: Counter<'result'>;
  readonly reconcileDuration: Histogram;
  readonly queueDepth: Gauge;
  readonly isLeader: Gauge;

  constructor() {
    const registers = [this.registry];
    // Default process and Node.js metrics as eventraft_operator_process_cpu_seconds_total, eventraft_operator_nodejs_*, ...
    collectDefaultMetrics({ register: this.registry, prefix: 'eventraft_operator_' });
    this.reconciles = new Counter({ name: 'eventraft_operator_reconcile_total', help: 'Reconcile passes by result (success, requeue, error)', labelNames: ['result'], registers });
    this.reconcileDuration = new Histogram({
      name: 'eventraft_operator_reconcile_duration_seconds',
      help: 'Duration of one reconcile pass (API calls and node admin calls included)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.queueDepth = new Gauge({ name: 'eventraft_operator_queue_depth', help: 'Keys waiting in the work queue', registers });
    this.isLeader = new Gauge({ name: 'eventraft_operator_is_leader', help: '1 when this replica holds the leader Lease and reconciles', registers });
    for (const result of ['success', 'requeue', 'error']) this.reconciles.inc({ result }, 0);
  }

  /** Exports the informers' own counters (lists, watches, watchdog cuts, 410s, errors) at scrape time. */
  watchInformers(stats: () => readonly { readonly informer: string; readonly stats: Readonly<Record<string, number>> }[]): void {
    new Gauge({
      name: 'eventraft_operator_informer_events',
      help: 'Since start, per informer: lists, watches opened, watchdog cuts of silent watches, 410 Gone relists, errors',
      labelNames: ['informer', 'event'],
      registers: [this.registry],
      collect() {
        for (const { informer, stats: s } of stats()) for (const [event, n] of Object.entries(s)) this.set({ informer, event }, n);
      },
    });
  }
}
