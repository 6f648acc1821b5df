import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { eventually, LocalKubernetes } from './harness/local-kubernetes.ts';

/**
 * `eventraft operator` as a process: two replicas, one leads (the Lease), it serves health and
 * metrics, and on SIGTERM it exits 0 and hands over at once by releasing the Lease.
 */

jest.setTimeout(120_000);

const namespace = 'ha';
let k8s: LocalKubernetes;

beforeAll(async () => {
  k8s = await LocalKubernetes.start({ networkPrefix: '127.1.4', namespace });
});
afterAll(async () => {
  await k8s.stop();
});

async function holder(): Promise<string | undefined> {
  try {
    const lease = await k8s.kube.coordination.readNamespacedLease({ namespace, name: 'eventraft-operator' });
    return lease.spec?.holderIdentity ?? undefined;
  } catch {
    return undefined;
  }
}

/** The HTTP address the replica logged at start (it listens on a free port). */
function listenOf(identity: string): string | undefined {
  for (const line of k8s.operatorLogs) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { identity?: string; msg?: string; listen?: string };
    if (entry.identity === identity && entry.msg === 'operator started') return entry.listen;
  }
  return undefined;
}

it('runs one leader of two replicas, serves health and metrics, and hands over at once on SIGTERM', async () => {
  const replicas = new Map<string, ChildProcess>();
  for (const identity of ['op-a', 'op-b']) replicas.set(identity, await k8s.startOperatorProcess(namespace, { EVENTRAFT_OPERATOR_IDENTITY: identity, EVENTRAFT_OPERATOR_LEASE_DURATION_MS: '15000', EVENTRAFT_OPERATOR_RENEW_DEADLINE_MS: '10000' }));
  const leader = await eventually('a leader', holder);
  const standby = leader === 'op-a' ? 'op-b' : 'op-a';

  const listen = await eventually('the leader listening', () => listenOf(leader));
  expect(await (await fetch(`http://${listen}/healthz`)).json()).toEqual({ status: 'ok' });
  expect(await (await fetch(`http://${listen}/readyz`)).json()).toMatchObject({ leader: true, controller: true });
  const metrics = await (await fetch(`http://${listen}/metrics`)).text();
  for (const name of ['eventraft_operator_reconcile_total', 'eventraft_operator_reconcile_duration_seconds', 'eventraft_operator_queue_depth', 'eventraft_operator_informer_events']) expect(metrics).toContain(name);
  expect(metrics).toMatch(/^eventraft_operator_is_leader 1$/m);

  const child = replicas.get(leader) as ChildProcess;
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
  child.kill('SIGTERM');
  expect(await exit).toBe(0);
  // Released, not expired: the standby leads before the 15 s lease could have run out.
  await eventually('the standby leading', async () => ((await holder()) === standby ? true : undefined), 10_000);
  replicas.get(standby)?.kill('SIGKILL');
});
