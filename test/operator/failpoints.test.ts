import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { QuorumWatch, Writer } from './harness/cluster-probes.ts';
import { eventually, LocalKubernetes } from './harness/local-kubernetes.ts';

/**
 * The operator killed (SIGKILL, by a failpoint) between its side effects, then started again,
 * through a whole life: creation, scale-out, scale-in, a rolling update. After each restart it
 * converges; throughout, quorum is never lost and no acknowledged write is lost.
 */

jest.setTimeout(600_000);

const namespace = 'fp';
const name = 'ledger';
let k8s: LocalKubernetes;

beforeAll(async () => {
  k8s = await LocalKubernetes.start({ networkPrefix: '127.1.3', namespace });
});
afterAll(async () => {
  await k8s.stop();
});

/** Starts the operator armed with `failpoint` and waits for it to die there. */
async function dieAt(failpoint: string): Promise<void> {
  const child = await k8s.startOperatorProcess(namespace, { EVENTRAFT_OPERATOR_FAILPOINTS: failpoint });
  const exit = await exited(child, 90_000);
  expect({ failpoint, exit }).toEqual({ failpoint, exit: 'SIGKILL' });
  expect(k8s.operatorLogs).toContain(`failpoint ${failpoint}: SIGKILL`);
}

function exited(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      resolve(`still running after ${String(timeoutMs)} ms:\n${k8s.operatorLogs.slice(-30).join('\n')}`);
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      resolve(String(signal ?? code));
    });
  });
}

/** A plain operator until the cluster is Running with `replicas`, then killed too (leaving the Lease held). */
async function converge(replicas: number): Promise<void> {
  const child = await k8s.startOperatorProcess(namespace);
  expect(await k8s.waitForRunning(namespace, name, replicas)).toEqual([]);
  child.kill('SIGKILL');
  await exited(child, 10_000);
}

it('converges after being killed at every failpoint, never losing quorum or an acknowledged write', async () => {
  await k8s.createCluster(namespace, name, { replicas: 3, redis: { mode: 'disabled' }, raft: { heartbeatMs: 50, electionTimeoutMs: 500, snapshotThreshold: 500 } });
  await dieAt('after-create-statefulset');
  await dieAt('after-bootstrap-switch');
  await converge(3);

  const urls = k8s.urls(5);
  const quorum = new QuorumWatch(urls);
  const writer = new Writer(urls);

  await k8s.patchSpec(namespace, name, { replicas: 5 });
  for (const failpoint of ['after-incarnation-bump', 'after-add-learner', 'before-scale-statefulset', 'after-promote']) await dieAt(failpoint);
  await converge(5);

  await k8s.patchSpec(namespace, name, { replicas: 3 });
  await dieAt('after-remove-member');
  await converge(3);
  await eventually('the volumes of removed members deleted', async () => ((await k8s.kube.core.listNamespacedPersistentVolumeClaim({ namespace })).items.length === 3 ? true : undefined));

  await k8s.patchSpec(namespace, name, { raft: { heartbeatMs: 50, electionTimeoutMs: 600, snapshotThreshold: 500 } });
  await dieAt('before-replace-pod');
  await dieAt('after-transfer-leadership');
  await converge(3);

  const { lost, duplicated } = await writer.stopAndCheck();
  await quorum.stop();
  expect(quorum.violations).toEqual([]);
  expect(quorum.samples).toBeGreaterThan(10);
  expect(writer.acknowledged.size).toBeGreaterThan(0);
  expect({ lost, duplicated }).toEqual({ lost: 0, duplicated: 0 });
});
