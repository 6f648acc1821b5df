import { expect, it, jest } from '@jest/globals';
import { renderChart } from '../../scripts/chart-check.ts';
import { runLocalScenario } from '../e2e/local-scenario.ts';
import type { RecordedRequest } from './harness/kube-api-server.ts';
import { OPERATOR_TOKEN } from './harness/local-kubernetes.ts';
import { grantedPermissions, missingPermissions, usedPermissions } from './harness/rbac.ts';
import type { PolicyRule } from './harness/rbac.ts';

/**
 * The same scenario as `npm run e2e:local`, in CI: see test/e2e/scenario.ts. Afterwards, every
 * API call the operator process made is checked against the Helm chart's RBAC rules: the
 * least-privilege Roles must have allowed all of them.
 */

jest.setTimeout(600_000);

it('creates, scales 3 -> 5 -> 3, rolls a config change, survives kill -9 of the leader and deletes, with a client writing all along', async () => {
  let operatorRequests: RecordedRequest[] = [];
  const report = await runLocalScenario({
    networkPrefix: '127.1.2',
    inspect: (k8s) => {
      operatorRequests = k8s.api.requests.filter((r) => r.token === OPERATOR_TOKEN);
    },
  });
  expect(report.statusMismatches).toEqual([]);
  expect(report.quorumViolations).toEqual([]);
  expect(report.quorumSamples).toBeGreaterThan(10);
  expect(report.acknowledged).toBeGreaterThan(0);
  expect(report.lost).toBe(0);
  expect(report.duplicated).toBe(0);
  expect(report.steps.map((s) => s.step)).toEqual(['create 3 members', 'scale to 5', 'scale to 3', 'change the node config (rolling update)', 'kill -9 the leader', 'delete']);

  // The chart's rules, cluster scope and namespace scope alike (the same rules, bound differently).
  for (const values of [[], ['rbac.scope=namespace', 'rbac.watchNamespace=e2e']]) {
    const rules = renderChart([], values)
      .filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')
      .flatMap((o) => o.rules as PolicyRule[]);
    expect(operatorRequests.length).toBeGreaterThan(100);
    expect(missingPermissions(operatorRequests, rules)).toEqual([]);
    // Printed, not asserted: grants this scenario did not need (e.g. Redis and PVC-expansion paths).
    const used = usedPermissions(operatorRequests);
    const unused = [...grantedPermissions(rules)].filter((p) => !used.has(p));
    if (values.length === 0) process.stdout.write(`RBAC grants not used by the scenario: ${unused.join(', ')}\n`);
  }
});
