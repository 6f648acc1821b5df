import { randomBytes } from 'node:crypto';
import type { CoreV1Api, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeApiError } from './kube.ts';

/**
 * Kubernetes Events (core/v1) about the objects the operator manages: what `kubectl describe`
 * shows users. Best effort: an Event that cannot be written is logged, never fails a reconcile.
 * The same reason and message for the same object within `dedupeMs` is written once, so that a
 * state that persists (a spec that stays invalid, a step that keeps waiting) does not flood.
 */
export class EventRecorder {
  private readonly recent = new Map<string, number>();
  private readonly core: CoreV1Api;
  private readonly component: string;
  private readonly log: Logger;
  private readonly dedupeMs: number;

  constructor(core: CoreV1Api, component: string, log: Logger, dedupeMs = 600_000) {
    this.core = core;
    this.component = component;
    this.log = log;
    this.dedupeMs = dedupeMs;
  }

  normal(object: KubernetesObject, reason: string, message: string): Promise<void> {
    return this.record(object, 'Normal', reason, message);
  }

  warning(object: KubernetesObject, reason: string, message: string): Promise<void> {
    return this.record(object, 'Warning', reason, message);
  }

  private async record(object: KubernetesObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const m = object.metadata ?? {};
    const namespace = m.namespace ?? 'default';
    const key = `${m.uid ?? ''}/${type}/${reason}/${message}`;
    const now = Date.now();
    const last = this.recent.get(key);
    if (last !== undefined && now - last < this.dedupeMs) return;
    this.recent.set(key, now);
    if (this.recent.size > 10_000) this.recent.clear();
    this.log.info({ object: `${namespace}/${m.name ?? ''}`, type, reason, message }, 'event');
    const time = new Date(now);
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${m.name ?? 'object'}.${randomBytes(8).toString('hex')}`, namespace },
          involvedObject: { apiVersion: object.apiVersion ?? '', kind: object.kind ?? '', name: m.name ?? '', namespace, uid: m.uid ?? '', ...(m.resourceVersion === undefined ? {} : { resourceVersion: m.resourceVersion }) },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: this.component },
          reportingComponent: this.component,
          reportingInstance: this.component,
          firstTimestamp: time,
          lastTimestamp: time,
          count: 1,
        },
      });
    } catch (err) {
      this.log.warn({ reason, err: describeApiError(err) }, 'could not record an event');
    }
  }
}
