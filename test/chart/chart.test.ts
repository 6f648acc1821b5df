import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { parseOperatorConfig } from '../../operator/config.ts';
import { selectorLabels } from '../../operator/desired/index.ts';
import { chartDir, checkChart, exampleValuesFiles, helm, NAMESPACE, renderChart } from '../../scripts/chart-check.ts';
import type { RenderedObject } from '../../scripts/chart-check.ts';
import { dashboardsDir, renderDashboards } from '../../scripts/gen-dashboards.ts';

const rulesFile = path.join(chartDir, 'rules', 'eventraft-alerts.yaml');
const example = (name: string): string => path.join(chartDir, 'examples', `${name}.yaml`);
const find = (objects: readonly RenderedObject[], kind: string, name?: string): RenderedObject[] => objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
const one = (objects: readonly RenderedObject[], kind: string, name?: string): RenderedObject => {
  const found = find(objects, kind, name);
  if (found.length !== 1) throw new Error(`expected one ${kind}${name === undefined ? '' : `/${name}`}, found ${String(found.length)}`);
  return found[0] as RenderedObject;
};

interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  securityContext?: Record<string, unknown>;
}
const podSpecOf = (o: RenderedObject): { containers: Container[]; securityContext?: Record<string, unknown> } => {
  const spec = o.spec as { template?: { spec: unknown }; containers?: unknown };
  return (spec.template?.spec ?? spec) as { containers: Container[]; securityContext?: Record<string, unknown> };
};

describe('the Helm chart', () => {
  it('lints and renders valid objects with the default values and every example values file (npm run chart:check)', async () => {
    expect(exampleValuesFiles().length).toBeGreaterThanOrEqual(3);
    expect(await checkChart()).toEqual([]);
  });

  it('refuses values the schema does not allow, naming them', () => {
    const refused = (set: string): string => {
      try {
        renderChart([], [set]);
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error(`--set ${set} was accepted`);
    };
    expect(refused('operator.replicas=0')).toMatch(/replicas/);
    expect(refused('operator.replica=2')).toMatch(/replica/);
    expect(refused('rbac.scope=everything')).toMatch(/scope/);
    expect(refused('operator.logLevel=chatty')).toMatch(/logLevel/);
    expect(refused('monitoring.podMonitor.interval=often')).toMatch(/interval/);
  });

  it('runs the operator with settings the operator accepts, the same image for nodes, non-root and read-only', () => {
    const objects = renderChart();
    const deployment = one(objects, 'Deployment');
    const pod = podSpecOf(deployment);
    const container = pod.containers[0] as Container;
    expect(container.args).toEqual(['operator']);
    const env: Record<string, string> = { POD_NAME: 'eventraft-abc', POD_NAMESPACE: NAMESPACE };
    for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    const parsed = parseOperatorConfig(env);
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    expect(parsed.config.nodeImage).toBe(container.image);
    expect(parsed.config.watchNamespace).toBeUndefined();
    expect(parsed.config.leaseNamespace).toBe(NAMESPACE);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect((deployment.spec as { replicas: number }).replicas).toBe(2);
    one(objects, 'PodDisruptionBudget');
  });

  it('grants cluster-wide rights by default, and only a Role in the watched namespace in namespace scope', () => {
    const cluster = renderChart();
    expect(find(cluster, 'ClusterRole')).toHaveLength(1);
    expect(find(cluster, 'ClusterRoleBinding')).toHaveLength(1);

    const namespaced = renderChart([example('namespaced')]);
    expect(find(namespaced, 'ClusterRole')).toHaveLength(0);
    expect(find(namespaced, 'ClusterRoleBinding')).toHaveLength(0);
    const roles = find(namespaced, 'Role');
    expect(roles.map((r) => r.metadata.namespace).sort()).toEqual([NAMESPACE, 'shop']);
    const env = podSpecOf(one(namespaced, 'Deployment')).containers[0]?.env ?? [];
    expect(env).toContainEqual({ name: 'EVENTRAFT_OPERATOR_WATCH_NAMESPACE', value: 'shop' });
    // The binding in the watched namespace names the operator's ServiceAccount in the release namespace.
    const binding = find(namespaced, 'RoleBinding').find((b) => b.metadata.namespace === 'shop');
    expect((binding?.subjects as { namespace: string }[])[0]?.namespace).toBe(NAMESPACE);
  });

  it('never lets a rule grant more than get/list/watch/create/patch/update/delete on named resources', () => {
    for (const role of [...find(renderChart(), 'ClusterRole'), ...find(renderChart(), 'Role')]) {
      for (const rule of role.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[]) {
        expect(rule.resources).not.toContain('*');
        expect(rule.apiGroups).not.toContain('*');
        for (const verb of rule.verbs) expect(['get', 'list', 'watch', 'create', 'patch', 'update', 'delete']).toContain(verb);
      }
    }
  });

  it('scrapes the nodes the operator creates (and not the operator) with the labels the dashboards use', () => {
    const objects = renderChart([example('monitoring')]);
    const podMonitor = one(objects, 'PodMonitor');
    const spec = podMonitor.spec as { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string; relabelings: { targetLabel: string; sourceLabels: string[] }[] }[] };
    const nodeLabels = selectorLabels({ name: 'orders' }, 'node');
    for (const [k, v] of Object.entries(spec.selector.matchLabels)) expect(nodeLabels[k]).toBe(v);
    const operatorLabels = (one(objects, 'Deployment').spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
    expect(Object.entries(spec.selector.matchLabels).every(([k, v]) => operatorLabels[k] === v)).toBe(false);
    expect(spec.podMetricsEndpoints[0]?.port).toBe('http');
    const relabel = new Map(spec.podMetricsEndpoints[0]?.relabelings.map((r) => [r.targetLabel, r.sourceLabels[0]]));
    expect(relabel.get('raftcluster')).toBe('__meta_kubernetes_pod_label_app_kubernetes_io_instance');
    expect(relabel.get('pod')).toBe('__meta_kubernetes_pod_name');
    expect(relabel.get('namespace')).toBe('__meta_kubernetes_namespace');
    one(objects, 'ServiceMonitor');
  });

  it('ships the alert rule file as the PrometheusRule, and each dashboard as a ConfigMap for the sidecar', async () => {
    const objects = renderChart([example('monitoring')]);
    expect(one(objects, 'PrometheusRule').spec).toEqual(parse(await readFile(rulesFile, 'utf8')));
    const configMaps = find(objects, 'ConfigMap').filter((c) => c.metadata.name.includes('-dashboard-'));
    expect(configMaps.map((c) => c.metadata.name).sort()).toEqual(['eventraft-dashboard-cache', 'eventraft-dashboard-cluster', 'eventraft-dashboard-operator']);
    for (const c of configMaps) {
      expect(c.metadata.labels?.grafana_dashboard).toBe('1');
      expect(c.metadata.namespace).toBe('monitoring');
      expect(c.metadata.annotations?.grafana_folder).toBe('eventraft');
      const [file, text] = Object.entries(c.data as Record<string, string>)[0] as [string, string];
      expect(text).toBe((await readFile(path.join(dashboardsDir, file.replace(/^eventraft-/, '')), 'utf8')).trimEnd());
    }
    const relabelled = renderChart([example('monitoring')], ['dashboards.label=my_dashboards', 'dashboards.labelValue=yes']);
    expect(find(relabelled, 'ConfigMap').filter((c) => c.metadata.labels?.my_dashboards === 'yes')).toHaveLength(3);
    // Nothing of the kind by default: those kinds need the Prometheus operator's CRDs.
    const defaults = renderChart();
    for (const kind of ['PodMonitor', 'ServiceMonitor', 'PrometheusRule']) expect(find(defaults, kind)).toHaveLength(0);
  });

  it('has the dashboards generated from scripts/gen-dashboards.ts (npm run dashboards)', async () => {
    for (const [file, text] of renderDashboards()) expect(await readFile(path.join(dashboardsDir, file), 'utf8')).toBe(text);
  });

  it('adds the example RaftCluster and a helm test that appends and reads through its client Service', () => {
    const objects = renderChart([example('example-cluster')]);
    const cluster = one(objects, 'RaftCluster', 'orders');
    expect(cluster.metadata.namespace).toBe(NAMESPACE);
    const testPod = one(objects, 'Pod');
    expect(testPod.metadata.annotations?.['helm.sh/hook']).toBe('test');
    const container = podSpecOf(testPod).containers[0] as Container;
    expect(container.args?.slice(0, 3)).toEqual(['smoke-test', '--url', `http://orders.${NAMESPACE}.svc:8080`]);
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true });
    // No cluster to test: no test pod.
    expect(find(renderChart(), 'Pod')).toHaveLength(0);
    const other = one(renderChart([], ['tests.cluster=payments', 'tests.namespace=shop']), 'Pod');
    expect(podSpecOf(other).containers[0]?.args?.[2]).toBe('http://payments.shop.svc:8080');
  });

  it('tells the user what to do next', () => {
    const notes = helm(['install', 'eventraft', chartDir, '--dry-run=client', '--namespace', NAMESPACE, '--values', example('example-cluster')]);
    expect(notes).toContain('kubectl -n eventraft-system get rft orders -w');
    expect(notes).toContain('helm test eventraft -n eventraft-system');
    expect(notes).toContain('kubectl apply --server-side -f');
  });
});

describe('the alert rules', () => {
  const promtool = (args: string[]): string => execFileSync('promtool', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  it('pass promtool check rules', () => {
    expect(promtool(['check', 'rules', rulesFile])).toMatch(/SUCCESS: 11 rules found/);
  });

  it('pass their unit tests (promtool test rules): each alert fires when it should and stays quiet otherwise', () => {
    expect(promtool(['test', 'rules', path.join(chartDir, 'rules', 'tests', 'eventraft-alerts.test.yaml')])).toMatch(/SUCCESS/);
  });

  it('each have a unit test, a severity, a summary and a runbook link', async () => {
    const rules = (parse(await readFile(rulesFile, 'utf8')) as { groups: { rules: { alert: string; labels: Record<string, string>; annotations: Record<string, string> }[] }[] }).groups.flatMap((g) => g.rules);
    const tests = await readFile(path.join(chartDir, 'rules', 'tests', 'eventraft-alerts.test.yaml'), 'utf8');
    for (const r of rules) {
      expect(tests).toContain(`alertname: ${r.alert}`);
      expect(['critical', 'warning', 'info']).toContain(r.labels.severity);
      expect(r.annotations.summary).toBeTruthy();
      expect(r.annotations.runbook_url).toMatch(/docs\/troubleshooting\.md#/);
    }
  });
});
