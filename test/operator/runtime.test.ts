import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Informer } from '../../operator/runtime/informer.ts';
import type { InformerEvent } from '../../operator/runtime/informer.ts';
import { fromConfig } from '../../operator/runtime/kube.ts';
import type { Kube } from '../../operator/runtime/kube.ts';
import { LeaderElector } from '../../operator/runtime/leader-election.ts';
import { KubeApiServer } from './harness/kube-api-server.ts';

/** The operator's informer and leader election, against the in-memory API server over HTTP. */

const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
let api: KubeApiServer;
let kube: Kube;
let nsSeq = 0;

beforeAll(async () => {
  api = await KubeApiServer.start({ bookmarkIntervalMs: 50 });
  const config = new KubeConfig();
  config.loadFromString(api.kubeconfig());
  kube = fromConfig(config);
});
afterAll(async () => {
  await api.stop();
});

function configMapInformer(namespace: string, seen: string[], options: { watchdogMs?: number; relistMs?: number; resynced?: string[][] } = {}): Informer<V1ConfigMap> {
  return new Informer<V1ConfigMap>({
    name: 'configmaps',
    kubeConfig: kube.config,
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    list: () => kube.core.listNamespacedConfigMap({ namespace }),
    onEvent: (type: InformerEvent, o) => seen.push(`${type} ${o.metadata?.name ?? ''} ${o.data?.v ?? ''}`),
    onResync: (all) => options.resynced?.push(all.map((o) => o.metadata?.name ?? '')),
    log,
    retryBaseMs: 20,
    ...(options.watchdogMs === undefined ? {} : { watchdogMs: options.watchdogMs }),
    ...(options.relistMs === undefined ? {} : { relistMs: options.relistMs }),
  });
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('Informer', () => {
  it('lists, then follows changes; after compaction and a cut watch it lists again and reports what it missed', async () => {
    const namespace = `inf-${++nsSeq}`;
    await kube.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'a' }, data: { v: '1' } } });
    const seen: string[] = [];
    const informer = configMapInformer(namespace, seen);
    await informer.start();
    expect(seen).toEqual(['ADDED a 1']);
    await kube.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'b' }, data: { v: '1' } } });
    await kube.core.replaceNamespacedConfigMap({ namespace, name: 'a', body: { metadata: { name: 'a' }, data: { v: '2' } } });
    await until(() => seen.length === 3, 'two watch events');
    expect(seen).toEqual(['ADDED a 1', 'ADDED b 1', 'MODIFIED a 2']);

    // The watch goes silent while changes happen, the history is compacted, then the watch is
    // cut: re-watching from the last seen resourceVersion gets 410, and a new list shows the changes.
    api.stallWatches();
    await kube.core.deleteNamespacedConfigMap({ namespace, name: 'b' });
    await kube.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'c' }, data: { v: '1' } } });
    api.compact();
    api.dropWatches();
    await until(() => seen.length === 5, 'the relist');
    // A deletion seen only through a relist reports the last state the cache had.
    expect(seen.slice(3).sort()).toEqual(['ADDED c 1', 'DELETED b 1']);
    expect(informer.stats.gone).toBeGreaterThanOrEqual(1);
    expect(informer.list().map((o) => o.metadata?.name).sort()).toEqual(['a', 'c']);
    await informer.stop();
  });

  it('re-opens a watch that went silent (the watchdog), without losing events', async () => {
    const namespace = `inf-${++nsSeq}`;
    const seen: string[] = [];
    const informer = configMapInformer(namespace, seen, { watchdogMs: 300 });
    await informer.start();
    // An event that came through the watch proves this informer's watch is open before it stalls.
    await kube.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'early' }, data: { v: '1' } } });
    await until(() => seen.includes('ADDED early 1'), 'an event through the first watch');
    api.stallWatches(); // open watches now deliver nothing, not even bookmarks
    await kube.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'late' }, data: { v: '1' } } });
    await until(() => seen.includes('ADDED late 1'), 'the event, through a new watch');
    expect(informer.stats.watchdogFires).toBeGreaterThanOrEqual(1);
    await informer.stop();
  });

  it('relists periodically and reports every object for a resync', async () => {
    const namespace = `inf-${++nsSeq}`;
    await kube.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'x' } } });
    const resynced: string[][] = [];
    const informer = configMapInformer(namespace, [], { relistMs: 100, resynced });
    await informer.start();
    await until(() => resynced.length >= 2, 'two resyncs');
    expect(resynced[0]).toEqual(['x']);
    await informer.stop();
  });

  it('keeps retrying through API errors', async () => {
    const namespace = `inf-${++nsSeq}`;
    for (let i = 0; i < 3; i++) api.failNext('GET', new RegExp(`/namespaces/${namespace}/configmaps$`), 500);
    const seen: string[] = [];
    await kube.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'y' } } });
    const informer = configMapInformer(namespace, seen);
    await informer.start();
    expect(seen).toEqual(['ADDED y ']);
    expect(informer.stats.errors).toBe(3);
    await informer.stop();
  });
});

describe('LeaderElector', () => {
  const timings = { leaseDurationMs: 1_500, renewDeadlineMs: 1_000, retryPeriodMs: 100 };

  function elector(name: string, identity: string, events: string[]): LeaderElector {
    return new LeaderElector({
      api: kube.coordination,
      namespace: 'leases',
      name,
      identity,
      log,
      ...timings,
      onStartedLeading: () => events.push(`${identity} leads`),
      onStoppedLeading: () => events.push(`${identity} stopped`),
    });
  }

  it('elects one of two candidates; the other takes over at once when the leader stops and releases the lease', async () => {
    const events: string[] = [];
    const a = elector('one', 'a', events);
    const b = elector('one', 'b', events);
    a.start();
    await until(() => a.isLeader, 'a leads');
    b.start();
    await new Promise((r) => setTimeout(r, 500));
    expect(b.isLeader).toBe(false);
    const released = Date.now();
    await a.stop();
    await until(() => b.isLeader, 'b leads');
    expect(Date.now() - released).toBeLessThan(timings.leaseDurationMs); // did not wait for expiry
    expect(events).toEqual(['a leads', 'b leads']);
    await b.stop();
  });

  it('takes over from a leader that vanished only after the lease expires', async () => {
    const events: string[] = [];
    const a = elector('two', 'a', events);
    a.start();
    await until(() => a.isLeader, 'a leads');
    // a "crashes": its renewals stop, the lease stays held.
    (a as unknown as { stopped: boolean }).stopped = true;
    const crashed = Date.now();
    const b = elector('two', 'b', events);
    b.start();
    await until(() => b.isLeader, 'b leads');
    expect(Date.now() - crashed).toBeGreaterThanOrEqual(timings.leaseDurationMs - timings.retryPeriodMs * 2);
    const lease = await kube.coordination.readNamespacedLease({ namespace: 'leases', name: 'two' });
    expect(lease.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    await b.stop();
  });

  it('stops leading when it cannot renew within the renew deadline', async () => {
    const events: string[] = [];
    const a = elector('three', 'a', events);
    a.start();
    await until(() => a.isLeader, 'a leads');
    for (let i = 0; i < 30; i++) api.failNext('GET', /\/leases\/three$/, 503);
    await until(() => events.includes('a stopped'), 'a steps down');
    expect(a.isLeader).toBe(false);
    await a.stop();
  });
});
