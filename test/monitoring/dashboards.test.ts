import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { EventraftClient } from '../../node/client/index.ts';
import { Writer } from '../operator/harness/cluster-probes.ts';
import { LocalKubernetes } from '../operator/harness/local-kubernetes.ts';
import { freePort } from '../integration/support/node-cluster.ts';
import { Prometheus } from '../support/prometheus.ts';
import { RedisServer } from '../support/redis-server.ts';

/**
 * The dashboards and alerts against the real thing (issue #7): the operator process runs a
 * 3-node RaftCluster (real node processes, through the process-based StatefulSet stand-in) with
 * a real Redis; a real Prometheus scrapes the nodes and the operator with the labels the chart's
 * PodMonitor/ServiceMonitor give them, and loads the chart's alert rules. Under load (appends,
 * commands, cached aggregate and projection reads), every query of every dashboard panel and
 * variable must return data, every metric they name must be one the nodes or the operator
 * export, and every alert rule must evaluate without error.
 */

jest.setTimeout(300_000);

const root = path.join(import.meta.dirname, '..', '..');
const dashboardsDir = path.join(root, 'charts', 'eventraft', 'dashboards');
const rulesFile = path.join(root, 'charts', 'eventraft', 'rules', 'eventraft-alerts.yaml');
const namespace = 'shop';
const cluster = 'orders';
const operatorNamespace = 'eventraft-system';
/** Prometheus scrapes every second; rates look back over this window (Grafana's $__rate_interval). */
const RATE_INTERVAL = '20s';

interface Target {
  expr: string;
}
interface Panel {
  title: string;
  type: string;
  targets?: Target[];
}
interface Dashboard {
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; definition?: string }[] };
}

let redis: RedisServer;
let k8s: LocalKubernetes;
let prometheus: Prometheus;
let operatorUrl: string;
let writer: Writer;
let load: Load;
const dashboards = new Map<string, Dashboard>();

/** Commands and cached reads of accounts, besides the Writer's appends: what fills the cache panels. */
class Load {
  private stopped = false;
  private readonly loop: Promise<void>;
  private readonly client: EventraftClient;
  errors = 0;

  constructor(client: EventraftClient) {
    this.client = client;
    this.loop = this.run();
  }

  private isStopped(): boolean {
    return this.stopped;
  }

  private async run(): Promise<void> {
    const accounts = Array.from({ length: 10 }, (_, i) => `acct-${String(i)}`);
    for (const id of accounts) await this.client.execute('account', id, 'Open', { owner: `owner-${id}` });
    for (let n = 0; !this.isStopped(); n++) {
      const id = accounts[n % accounts.length] as string;
      try {
        if (n % 4 === 0) await this.client.execute('account', id, 'Deposit', { amount: 1 + (n % 100) });
        await this.client.getAggregate('account', id, { consistency: n % 2 === 0 ? 'eventual' : 'strong' });
        await this.client.getAggregate('account', id, { consistency: 'eventual' });
        await this.client.getProjection('accounts-by-owner', `owner-${id}`, { consistency: 'eventual' });
      } catch {
        this.errors++;
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

beforeAll(async () => {
  for (const file of (await readdir(dashboardsDir)).filter((f) => f.endsWith('.json'))) dashboards.set(file, JSON.parse(await readFile(path.join(dashboardsDir, file), 'utf8')) as Dashboard);
  redis = await RedisServer.start();
  k8s = await LocalKubernetes.start({ networkPrefix: '127.1.5', namespace });
  const operatorListen = `127.0.0.1:${String(await freePort('127.0.0.1'))}`;
  operatorUrl = `http://${operatorListen}`;
  await k8s.startOperatorProcess(namespace, { EVENTRAFT_OPERATOR_HTTP_LISTEN: operatorListen });
  await k8s.createCluster(namespace, cluster, { replicas: 3, redis: { mode: 'external', url: redis.url, ttlSeconds: 60 }, raft: { heartbeatMs: 50, electionTimeoutMs: 500, snapshotThreshold: 300 } });
  expect(await k8s.waitForRunning(namespace, cluster, 3)).toEqual([]);

  const nodeUrls = k8s.urls(3);
  // The labels the chart's PodMonitor and ServiceMonitor relabel onto every series.
  prometheus = await Prometheus.start({
    ruleFiles: [rulesFile],
    jobs: [
      { job: 'eventraft-nodes', targets: nodeUrls.map((u, i) => ({ address: new URL(u).host, labels: { namespace, raftcluster: cluster, pod: `${cluster}-${String(i)}` } })) },
      { job: 'eventraft-operator', targets: [{ address: operatorListen, labels: { namespace: operatorNamespace, pod: 'eventraft-operator-0' } }] },
    ],
  });
  writer = new Writer(nodeUrls);
  load = new Load(new EventraftClient({ endpoints: nodeUrls, timeoutMs: 3_000 }));
  // Enough scrapes under load for every rate window to hold several samples.
  await new Promise((resolve) => setTimeout(resolve, 25_000));
});

afterAll(async () => {
  await load.stop();
  await writer.stop();
  await prometheus.stop();
  await k8s.stop();
  await redis.stop();
});

function substitute(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', RATE_INTERVAL)
    .replaceAll('$cluster', cluster)
    .replaceAll('$namespace', expr.includes('eventraft_operator_') ? operatorNamespace : namespace);
}

/** Every metric name an expression refers to. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(eventraft_[a-z0-9_]+|up)\b/g)].map((m) => m[1] as string);
}

/** The names a /metrics page exports, with each histogram's _bucket/_sum/_count series. */
async function exportedNames(url: string): Promise<Set<string>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const names = new Set<string>(['up']);
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)/.exec(line);
    if (m === null) continue;
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

describe('the Grafana dashboards against a real Prometheus scraping a loaded cluster', () => {
  it('scrapes every node and the operator', async () => {
    const targets = await prometheus.targets();
    expect(targets.map((t) => `${t.labels.job ?? ''}/${t.labels.pod ?? ''}:${t.health}`).sort()).toEqual(['eventraft-nodes/orders-0:up', 'eventraft-nodes/orders-1:up', 'eventraft-nodes/orders-2:up', 'eventraft-operator/eventraft-operator-0:up']);
  });

  it('has three dashboards, each with a datasource variable and the cluster ones with a cluster variable', () => {
    expect([...dashboards.keys()].sort()).toEqual(['cache.json', 'cluster.json', 'operator.json']);
    for (const [file, d] of dashboards) {
      const names = d.templating.list.map((v) => v.name);
      expect(names).toContain('datasource');
      if (file !== 'operator.json') expect(names).toEqual(expect.arrayContaining(['namespace', 'cluster']));
    }
  });

  it('references only metrics the nodes and the operator export', async () => {
    const exported = new Set([...(await exportedNames(k8s.urls(1)[0] as string)), ...(await exportedNames(operatorUrl))]);
    const unknown: string[] = [];
    for (const [file, d] of dashboards) {
      for (const p of d.panels) for (const t of p.targets ?? []) for (const name of metricNames(t.expr)) if (!exported.has(name)) unknown.push(`${file} "${p.title}": ${name}`);
      for (const v of d.templating.list) for (const name of metricNames(v.definition ?? '')) if (!exported.has(name)) unknown.push(`${file} variable ${v.name}: ${name}`);
    }
    const rules = await readFile(rulesFile, 'utf8');
    for (const name of new Set(metricNames(rules))) if (!exported.has(name)) unknown.push(`alert rules: ${name}`);
    expect(unknown).toEqual([]);
  });

  it('fills every variable from the scraped series', async () => {
    const empty: string[] = [];
    for (const [file, d] of dashboards) {
      for (const v of d.templating.list.filter((x) => x.type === 'query')) {
        const m = /^label_values\((.+),\s*(\w+)\)$/.exec(v.definition ?? '');
        if (m === null) throw new Error(`${file} variable ${v.name}: not a label_values() query: ${v.definition ?? ''}`);
        const values = await prometheus.labelValues(m[2] as string, substitute(m[1] as string));
        if (values.length === 0) empty.push(`${file} variable ${v.name}`);
      }
    }
    expect(empty).toEqual([]);
  });

  it('returns data for every query of every panel', async () => {
    const failures: string[] = [];
    let queries = 0;
    for (const [file, d] of dashboards) {
      for (const p of d.panels.filter((x) => x.type !== 'row')) {
        expect(p.targets?.length).toBeGreaterThan(0);
        for (const t of p.targets ?? []) {
          queries++;
          try {
            const result = await prometheus.query(substitute(t.expr));
            if (result.length === 0) failures.push(`${file} "${p.title}": no data for ${t.expr}`);
            else if (result.every((s) => Number.isNaN(Number(s.value[1])))) failures.push(`${file} "${p.title}": only NaN for ${t.expr}`);
          } catch (e) {
            failures.push(`${file} "${p.title}": ${(e as Error).message}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
    expect(queries).toBeGreaterThan(40);
  });

  it('shows what the cluster is doing: one leader, a hit ratio above zero, appends flowing', async () => {
    const leaders = await prometheus.query(`sum(eventraft_raft_is_leader{namespace="${namespace}", raftcluster="${cluster}"})`);
    expect(Number(leaders[0]?.value[1])).toBe(1);
    const hitRatio = await prometheus.query(substitute(`sum(rate(eventraft_cache_requests_total{raftcluster="$cluster", result="hit"}[$__rate_interval])) / sum(rate(eventraft_cache_requests_total{raftcluster="$cluster"}[$__rate_interval]))`));
    expect(Number(hitRatio[0]?.value[1])).toBeGreaterThan(0);
    const appends = await prometheus.query(substitute(`max(rate(eventraft_events_appended_total{raftcluster="$cluster"}[$__rate_interval]))`));
    expect(Number(appends[0]?.value[1])).toBeGreaterThan(0);
    // The load itself ran clean: every command and read answered (the client retries what is retryable).
    expect(load.errors).toBe(0);
  });
});

describe('the alert rules in a real Prometheus', () => {
  it('all load and evaluate without error, and none fires on a healthy cluster', async () => {
    const rules = await prometheus.rules();
    expect(rules.filter((r) => r.type === 'alerting')).toHaveLength(11);
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`)).toEqual([]);
    const firing = await prometheus.query('ALERTS{alertstate="firing"}');
    expect(firing.map((s) => s.metric.alertname)).toEqual([]);
  });

  it('the smoke test the chart runs as its helm test passes against every node', () => {
    const cli = path.join(root, 'node', 'cli.ts');
    const r = spawnSync(process.execPath, [cli, 'smoke-test', ...k8s.urls(3).flatMap((u) => ['--url', u]), '--timeout-ms', '20000'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout.trim()) as { ok: boolean; reads: { ok: boolean }[] };
    expect(report.ok).toBe(true);
    expect(report.reads).toHaveLength(3);
  });
});
