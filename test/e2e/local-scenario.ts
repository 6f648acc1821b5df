/**
 * The end-to-end scenario (scenario.ts) without Kubernetes, shared by `npm run e2e:local` and
 * the test suite: the in-memory API server, the process-based StatefulSet stand-in running real
 * nodes, and the real `eventraft operator` process.
 */
import { LocalKubernetes } from '../operator/harness/local-kubernetes.ts';
import { runScenario } from './scenario.ts';
import type { ScenarioReport } from './scenario.ts';

export type { ScenarioReport } from './scenario.ts';

/** `inspect` sees the harness after the scenario, before it is stopped (e.g. the API requests made). */
export async function runLocalScenario(options: { networkPrefix: string; log?: (line: string) => void; inspect?: (k8s: LocalKubernetes) => void }): Promise<ScenarioReport> {
  const namespace = 'e2e';
  const k8s = await LocalKubernetes.start({ networkPrefix: options.networkPrefix, namespace });
  try {
    await k8s.startOperatorProcess(namespace);
    const report = await runScenario(k8s.platform(namespace), { name: 'orders', ...(options.log === undefined ? {} : { log: options.log }) });
    options.inspect?.(k8s);
    return report;
  } finally {
    await k8s.stop();
  }
}
