import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isConflict, isNotFound } from './kube.ts';

/**
 * Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it: the
 * holder renews `renewTime` every `retryPeriodMs`; a candidate takes the Lease once it has not
 * been renewed for `leaseDurationMs`; every write is conditional on the resourceVersion read, so
 * two candidates can never both win. A holder that cannot renew within `renewDeadlineMs` stops
 * leading (`onStoppedLeading`) before another candidate can take over: the deadline is shorter
 * than the lease duration, so there is never a moment with two reconcilers acting.
 *
 * Time is compared on this process's clock only: a Lease is judged expired when its
 * resourceVersion has not changed for `leaseDurationMs` of local time, not by its renewTime,
 * so skew between the machines does not matter (client-go does the same).
 */

export interface LeaderElectionOptions {
  readonly api: CoordinationV1Api;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly log: Logger;
  /** Default 15 s, 10 s and 2 s (client-go's defaults). */
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
}

export class LeaderElector {
  private readonly o: LeaderElectionOptions;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  /** The last Lease seen and when (local clock) its resourceVersion last changed. */
  private observed: { resourceVersion: string; at: number } | undefined;
  private lastRenew = 0;
  private tick: Promise<void> = Promise.resolve();

  constructor(o: LeaderElectionOptions) {
    this.o = o;
    this.leaseDurationMs = o.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = o.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = o.retryPeriodMs ?? 2_000;
    if (!(this.renewDeadlineMs < this.leaseDurationMs && this.retryPeriodMs < this.renewDeadlineMs)) throw new RangeError('need retryPeriod < renewDeadline < leaseDuration');
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    const loop = (): void => {
      if (this.stopped) return;
      this.tick = this.attempt().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.retryPeriodMs);
      });
    };
    loop();
  }

  /** Stops; a leader releases the Lease (empty holder), so that a successor need not wait it out. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.tick;
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.o.api.readNamespacedLease({ namespace: this.o.namespace, name: this.o.name });
      if (lease.spec?.holderIdentity === this.o.identity) {
        await this.o.api.replaceNamespacedLease({ namespace: this.o.namespace, name: this.o.name, body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } } });
      }
    } catch (err) {
      this.o.log.warn({ err: String(err) }, 'could not release the leader lease; a successor waits for it to expire');
    }
  }

  private async attempt(): Promise<void> {
    try {
      const acquired = await this.tryAcquireOrRenew();
      const now = Date.now();
      if (acquired) {
        this.lastRenew = now;
        if (!this.leading) {
          this.leading = true;
          this.o.log.info({ lease: this.o.name, identity: this.o.identity }, 'became leader');
          this.o.onStartedLeading();
        }
        return;
      }
    } catch (err) {
      this.o.log.warn({ err: String(err) }, 'leader lease: acquire/renew failed');
    }
    if (this.leading && Date.now() - this.lastRenew > this.renewDeadlineMs) this.loseLeadership('could not renew the lease within the renew deadline');
    else if (this.leading && this.observed !== undefined && this.observedHolder !== this.o.identity) this.loseLeadership('another candidate holds the lease');
  }

  private observedHolder: string | undefined;

  private loseLeadership(reason: string): void {
    this.leading = false;
    this.o.log.warn({ lease: this.o.name, reason }, 'stopped leading');
    this.o.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { api, namespace, name, identity } = this.o;
    const nowIso = microTime(new Date());
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ namespace, name });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000), acquireTime: nowIso, renewTime: nowIso, leaseTransitions: 0 } } });
        this.observedHolder = identity;
        return true;
      } catch (createErr) {
        if (isConflict(createErr)) return false;
        throw createErr;
      }
    }
    const rv = lease.metadata?.resourceVersion ?? '';
    if (this.observed?.resourceVersion !== rv) this.observed = { resourceVersion: rv, at: Date.now() };
    const holder = lease.spec?.holderIdentity ?? '';
    this.observedHolder = holder;
    const durationMs = (lease.spec?.leaseDurationSeconds ?? Math.ceil(this.leaseDurationMs / 1000)) * 1000;
    const expired = holder === '' || Date.now() - this.observed.at > durationMs;
    if (holder !== identity && !expired) return false;
    const spec = {
      ...lease.spec,
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      renewTime: nowIso,
      ...(holder === identity ? {} : { acquireTime: nowIso, leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1 }),
    };
    try {
      const updated = await api.replaceNamespacedLease({ namespace, name, body: { ...lease, spec } });
      this.observed = { resourceVersion: updated.metadata?.resourceVersion ?? '', at: Date.now() };
      this.observedHolder = identity;
      return true;
    } catch (err) {
      if (isConflict(err)) return false; // someone else wrote it first
      throw err;
    }
  }
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits (client-node passes it through as is). */
function microTime(d: Date): Date {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date;
}
