/**
 * `npm run dashboards`: writes the Grafana dashboards of the Helm chart
 * (charts/eventraft/dashboards/*.json) from the definitions below. `--check` exits 1 if a file
 * differs (a test runs it).
 *
 * Every query selects by the labels the chart's PodMonitor gives node series: `namespace`,
 * `raftcluster` (the RaftCluster's name) and `pod`. The `cluster` variable is that `raftcluster`
 * label (not Prometheus's own `cluster`, which multi-cluster setups use for the Kubernetes
 * cluster). test/monitoring/dashboards.test.ts runs every query below against a real Prometheus
 * scraping real nodes and requires data from each.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

export const dashboardsDir = path.join(import.meta.dirname, '..', 'charts', 'eventraft', 'dashboards');

type Unit = 'short' | 's' | 'bytes' | 'Bps' | 'percentunit' | 'reqps' | 'ops' | 'none';

interface Query {
  readonly expr: string;
  readonly legend?: string;
}

interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly kind: 'timeseries' | 'stat' | 'table';
  readonly unit: Unit;
  readonly queries: readonly Query[];
  /** Grid width out of 24 (height is fixed per kind). */
  readonly width: number;
  /** Value -> text, for stat panels that show a state. */
  readonly mappings?: Readonly<Record<string, string>>;
}

interface DashboardSpec {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  /** Which template variables the dashboard has after the datasource. */
  readonly variables: 'cluster' | 'operator';
  readonly rows: readonly { readonly title: string; readonly panels: readonly PanelSpec[] }[];
}

/** The selector of a node series on the cluster dashboards. */
const NODE = 'namespace=~"$namespace", raftcluster=~"$cluster"';
const RATE = '$__rate_interval';

const p99 = (metric: string, by: string, extra = ''): string =>
  `histogram_quantile(0.99, sum by (${by}, le) (rate(${metric}_bucket{${NODE}${extra}}[${RATE}])))`;

const ts = (title: string, description: string, unit: Unit, queries: readonly Query[], width = 12): PanelSpec => ({ title, description, kind: 'timeseries', unit, queries, width });
const stat = (title: string, description: string, unit: Unit, queries: readonly Query[], width = 6, mappings?: Readonly<Record<string, string>>): PanelSpec => ({ title, description, kind: 'stat', unit, queries, width, ...(mappings === undefined ? {} : { mappings }) });

const clusterOverview: DashboardSpec = {
  uid: 'eventraft-cluster',
  title: 'eventraft / Cluster overview',
  description: 'Leadership, replication, proposals, disk and API of eventraft RaftClusters',
  variables: 'cluster',
  rows: [
    {
      title: 'Leadership',
      panels: [
        stat('Has leader', 'Whether some node of each cluster is leader (writes and strong reads need one)', 'none', [{ expr: `max by (raftcluster) (eventraft_raft_is_leader{${NODE}})`, legend: '{{raftcluster}}' }], 6, { '0': 'NO LEADER', '1': 'leader' }),
        { ...stat('Leader per cluster', 'The pod that leads each cluster now', 'none', [{ expr: `max by (raftcluster, pod) (eventraft_raft_is_leader{${NODE}}) == 1`, legend: '{{raftcluster}}: {{pod}}' }], 6), kind: 'table' },
        stat('Term', 'Raft term (goes up with every election)', 'short', [{ expr: `max by (raftcluster) (eventraft_raft_term{${NODE}})`, legend: '{{raftcluster}}' }]),
        stat('Members answering', 'Nodes Prometheus scrapes successfully', 'short', [{ expr: `sum by (raftcluster) (up{${NODE}})`, legend: '{{raftcluster}}' }]),
        ts('Leader changes', 'Leader changes seen by each node, per interval', 'short', [{ expr: `sum by (raftcluster, pod) (increase(eventraft_raft_leader_changes_total{${NODE}}[${RATE}]))`, legend: '{{pod}}' }]),
        ts('Role per node', '1 for the role each node has', 'none', [{ expr: `eventraft_raft_state{${NODE}} == 1`, legend: '{{pod}} {{state}}' }]),
      ],
    },
    {
      title: 'Replication',
      panels: [
        ts('Commit vs applied index', 'Highest index known committed and applied to the event store, per node', 'short', [
          { expr: `eventraft_raft_commit_index{${NODE}}`, legend: '{{pod}} commit' },
          { expr: `eventraft_raft_applied_index{${NODE}}`, legend: '{{pod}} applied' },
        ]),
        ts('Apply lag (entries)', "How far each node applies behind the cluster's highest commit index", 'short', [
          { expr: `max by (namespace, raftcluster) (eventraft_raft_commit_index{${NODE}}) - on (namespace, raftcluster) group_right eventraft_raft_applied_index{${NODE}}`, legend: '{{pod}}' },
        ]),
        ts('Peer RTT p99', 'Round-trip time of transport pings from each node to each peer', 's', [{ expr: p99('eventraft_raft_peer_rtt_seconds', 'pod, peer'), legend: '{{pod}} -> {{peer}}' }]),
        ts('Transport frames rejected and messages dropped', 'Bad peer frames (connection closed) and messages dropped before sending', 'ops', [
          { expr: `sum by (pod, reason) (rate(eventraft_transport_frames_rejected_total{${NODE}}[${RATE}]))`, legend: '{{pod}} rejected {{reason}}' },
          { expr: `sum by (pod, reason) (rate(eventraft_transport_messages_dropped_total{${NODE}}[${RATE}]))`, legend: '{{pod}} dropped {{reason}}' },
        ]),
      ],
    },
    {
      title: 'Proposals',
      panels: [
        ts('Proposals committed', 'Writes proposed through each node and applied', 'ops', [{ expr: `sum by (pod) (rate(eventraft_raft_proposals_committed_total{${NODE}}[${RATE}]))`, legend: '{{pod}}' }], 8),
        ts('Proposals failed', 'Writes that failed or timed out, by reason', 'ops', [{ expr: `sum by (reason) (rate(eventraft_raft_proposals_failed_total{${NODE}}[${RATE}]))`, legend: '{{reason}}' }], 8),
        ts('Proposals pending', 'Writes waiting to be applied, per node', 'short', [{ expr: `eventraft_raft_proposals_pending{${NODE}}`, legend: '{{pod}}' }], 8),
        ts('ReadIndex rounds', 'Quorum rounds started for strong reads, per node; each serves every strong read queued before it', 'ops', [{ expr: `sum by (pod) (rate(eventraft_raft_read_index_rounds_total{${NODE}}[${RATE}]))`, legend: '{{pod}}' }], 24),
      ],
    },
    {
      title: 'Event store',
      panels: [
        ts('Append rate', 'Events stored per second (each replica stores every event: the highest node is the cluster rate)', 'ops', [{ expr: `max by (raftcluster) (rate(eventraft_events_appended_total{${NODE}}[${RATE}]))`, legend: '{{raftcluster}}' }], 8),
        ts('Append latency p99', 'Appends and commands acknowledged, by kind', 's', [{ expr: p99('eventraft_append_duration_seconds', 'raftcluster, kind', ', outcome="ok"'), legend: '{{raftcluster}} {{kind}}' }], 8),
        ts('Appends by outcome', 'Append and command requests per second, by kind and outcome', 'ops', [{ expr: `sum by (kind, outcome) (rate(eventraft_append_duration_seconds_count{${NODE}}[${RATE}]))`, legend: '{{kind}} {{outcome}}' }], 8),
        ts('Log fsync p99', 'Duration of the fsync of each persisted batch; every acknowledged write waits for a majority of these', 's', [{ expr: p99('eventraft_raft_log_fsync_seconds', 'pod'), legend: '{{pod}}' }], 8),
        ts('Store size', 'Bytes of log segments and snapshots on disk, per node', 'bytes', [{ expr: `eventraft_store_bytes{${NODE}}`, legend: '{{pod}}' }], 8),
        ts('Snapshots', 'Snapshots taken (created) or received from the leader (installed), per interval', 'short', [{ expr: `sum by (pod, kind) (increase(eventraft_raft_snapshots_total{${NODE}}[${RATE}]))`, legend: '{{pod}} {{kind}}' }], 8),
        ts(
          'Data volume',
          'Room left on each node\'s data volume, and the size of its event store: a snapshot install needs about 1.5 times the store free, plus 128 MiB (alert EventraftVolumeLow)',
          'bytes',
          [
            { expr: `eventraft_volume_available_bytes{${NODE}}`, legend: '{{pod}} available' },
            { expr: `eventraft_event_store_bytes{${NODE}}`, legend: '{{pod}} event store' },
          ],
          8,
        ),
        ts('Projection lag', 'Events applied but not yet in each projection', 'short', [{ expr: `max by (projection) (eventraft_projection_lag_events{${NODE}})`, legend: '{{projection}}' }], 12),
        ts('Snapshot transfer rate', 'Snapshot data streamed to peers (sent) or from the leader (received), per node: a new or lagging member catching up', 'Bps', [{ expr: `sum by (pod, direction) (rate(eventraft_snapshot_bytes_total{${NODE}}[${RATE}]))`, legend: '{{pod}} {{direction}}' }], 12),
      ],
    },
    {
      title: 'HTTP API and process',
      panels: [
        ts('Requests by status', 'HTTP requests per second by status code', 'reqps', [{ expr: `sum by (code) (rate(eventraft_http_requests_total{${NODE}}[${RATE}]))`, legend: '{{code}}' }], 8),
        ts('Request latency p99 by route', 'HTTP latency per route', 's', [{ expr: p99('eventraft_http_request_duration_seconds', 'route'), legend: '{{route}}' }], 8),
        ts('Event loop lag p99', 'Node.js event loop delay per node (a busy loop delays heartbeats)', 's', [{ expr: `eventraft_nodejs_eventloop_lag_p99_seconds{${NODE}}`, legend: '{{pod}}' }], 8),
        ts('CPU', 'CPU seconds per second, per node', 'short', [{ expr: `rate(eventraft_process_cpu_seconds_total{${NODE}}[${RATE}])`, legend: '{{pod}}' }]),
        ts('Memory', 'Resident memory per node', 'bytes', [{ expr: `eventraft_process_resident_memory_bytes{${NODE}}`, legend: '{{pod}}' }]),
      ],
    },
  ],
};

const cache: DashboardSpec = {
  uid: 'eventraft-cache',
  title: 'eventraft / Cache',
  description: 'The Redis cache in front of aggregates and projections: hit ratio, results, latency, circuit breaker',
  variables: 'cluster',
  rows: [
    {
      title: 'Effectiveness',
      panels: [
        stat('Hit ratio', 'Cached reads served from Redis, of all cached reads', 'percentunit', [
          { expr: `sum by (raftcluster) (rate(eventraft_cache_requests_total{${NODE}, result="hit"}[${RATE}])) / sum by (raftcluster) (rate(eventraft_cache_requests_total{${NODE}}[${RATE}]))`, legend: '{{raftcluster}}' },
        ], 8),
        ts('Hit ratio by kind', 'Per aggregate and projection reads', 'percentunit', [
          { expr: `sum by (kind) (rate(eventraft_cache_requests_total{${NODE}, result="hit"}[${RATE}])) / sum by (kind) (rate(eventraft_cache_requests_total{${NODE}}[${RATE}]))`, legend: '{{kind}}' },
        ], 16),
        ts('Requests by result', 'hit: from Redis; miss: loaded; stale: cached version older than the store; error: Redis failed, loaded from the store; local: answered from the aggregate state the node keeps in memory, without asking Redis', 'ops', [
          { expr: `sum by (result) (rate(eventraft_cache_requests_total{${NODE}}[${RATE}]))`, legend: '{{result}}' },
          { expr: `sum(rate(eventraft_cache_local_reads_total{${NODE}}[${RATE}]))`, legend: 'local' },
        ]),
        ts('Invalidations', 'Keys invalidated after apply (sent) or given up on (lost: the TTL then bounds staleness)', 'ops', [
          { expr: `sum by (outcome) (rate(eventraft_cache_invalidations_total{${NODE}}[${RATE}]))`, legend: '{{outcome}}' },
        ]),
      ],
    },
    {
      title: 'Redis',
      panels: [
        ts('Command latency p99', 'Redis command latency by operation', 's', [{ expr: p99('eventraft_cache_duration_seconds', 'op', ', outcome="ok"'), legend: '{{op}}' }]),
        ts('Command errors', 'Redis commands that failed, timed out or were refused by the open breaker', 'ops', [
          // Zero-filled from the commands that ran, so the panel reads 0 (not "no data") while Redis is healthy.
          { expr: `sum by (op) (rate(eventraft_cache_duration_seconds_count{${NODE}, outcome="error"}[${RATE}])) or 0 * sum by (op) (rate(eventraft_cache_duration_seconds_count{${NODE}}[${RATE}]))`, legend: '{{op}}' },
        ]),
        { ...ts('Circuit breaker', '0 closed (Redis in use), 1 half-open (probing), 2 open (reads go to the store)', 'none', [{ expr: `eventraft_cache_circuit_state{${NODE}}`, legend: '{{pod}}' }], 24), mappings: { '0': 'closed', '1': 'half-open', '2': 'open' } },
      ],
    },
  ],
};

const OPERATOR = 'namespace=~"$namespace"';
const operator: DashboardSpec = {
  uid: 'eventraft-operator',
  title: 'eventraft / Operator',
  description: 'The eventraft operator: leadership, reconciles, errors, duration, work queue, informers',
  variables: 'operator',
  rows: [
    {
      title: 'Reconciles',
      panels: [
        { ...stat('Leader replica', 'The operator replica holding the Lease', 'none', [{ expr: `eventraft_operator_is_leader{${OPERATOR}} == 1`, legend: '{{pod}}' }]), kind: 'table' },
        stat('Queue depth', 'RaftClusters waiting for a reconcile', 'short', [{ expr: `sum(eventraft_operator_queue_depth{${OPERATOR}})` }]),
        stat('Error ratio', 'Share of reconcile passes that failed', 'percentunit', [
          { expr: `sum(rate(eventraft_operator_reconcile_total{${OPERATOR}, result="error"}[${RATE}])) / sum(rate(eventraft_operator_reconcile_total{${OPERATOR}}[${RATE}]))` },
        ]),
        stat('Reconciles (interval)', 'Reconcile passes in the interval', 'short', [{ expr: `sum(increase(eventraft_operator_reconcile_total{${OPERATOR}}[${RATE}]))` }]),
        ts('Reconciles by result', 'success: converged; requeue: a step was taken, more to do; error: failed, retried with backoff', 'ops', [
          { expr: `sum by (result) (rate(eventraft_operator_reconcile_total{${OPERATOR}}[${RATE}]))`, legend: '{{result}}' },
        ]),
        ts('Reconcile errors', 'Failed reconcile passes per second', 'ops', [{ expr: `sum by (pod) (rate(eventraft_operator_reconcile_total{${OPERATOR}, result="error"}[${RATE}]))`, legend: '{{pod}}' }]),
        ts('Reconcile duration', 'p50 and p99 of one pass (API and node admin calls included)', 's', [
          { expr: `histogram_quantile(0.5, sum by (le) (rate(eventraft_operator_reconcile_duration_seconds_bucket{${OPERATOR}}[${RATE}])))`, legend: 'p50' },
          { expr: `histogram_quantile(0.99, sum by (le) (rate(eventraft_operator_reconcile_duration_seconds_bucket{${OPERATOR}}[${RATE}])))`, legend: 'p99' },
        ]),
        ts('Work queue depth', 'Keys waiting, per replica', 'short', [{ expr: `eventraft_operator_queue_depth{${OPERATOR}}`, legend: '{{pod}}' }]),
      ],
    },
    {
      title: 'Informers and process',
      panels: [
        ts('Informer events', 'Since start, per informer: lists, watches, watchdog cuts, 410 relists, errors', 'short', [
          { expr: `sum by (informer, event) (eventraft_operator_informer_events{${OPERATOR}})`, legend: '{{informer}} {{event}}' },
        ], 24),
        ts('CPU', 'CPU seconds per second, per replica', 'short', [{ expr: `rate(eventraft_operator_process_cpu_seconds_total{${OPERATOR}}[${RATE}])`, legend: '{{pod}}' }]),
        ts('Memory', 'Resident memory per replica', 'bytes', [{ expr: `eventraft_operator_process_resident_memory_bytes{${OPERATOR}}`, legend: '{{pod}}' }]),
      ],
    },
  ],
};

export const dashboardSpecs: readonly DashboardSpec[] = [clusterOverview, cache, operator];

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

function variables(kind: DashboardSpec['variables']): unknown[] {
  const query = (name: string, label: string, q: string): unknown => ({
    name,
    label,
    type: 'query',
    datasource: DATASOURCE,
    definition: q,
    query: { query: q, refId: `${name}-variable` },
    refresh: 2,
    includeAll: true,
    multi: true,
    allValue: '.*',
    current: {},
    sort: 1,
  });
  const datasource = { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0 };
  if (kind === 'operator') return [datasource, query('namespace', 'Namespace', 'label_values(eventraft_operator_is_leader, namespace)')];
  return [
    datasource,
    query('namespace', 'Namespace', 'label_values(eventraft_raft_term, namespace)'),
    query('cluster', 'Cluster', 'label_values(eventraft_raft_term{namespace=~"$namespace"}, raftcluster)'),
  ];
}

function panelJson(p: PanelSpec, id: number, x: number, y: number): Record<string, unknown> {
  const height = p.kind === 'timeseries' ? 8 : 5;
  const mappings = p.mappings === undefined ? [] : [{ type: 'value', options: Object.fromEntries(Object.entries(p.mappings).map(([v, text], index) => [v, { text, index }])) }];
  return {
    id,
    type: p.kind,
    title: p.title,
    description: p.description,
    datasource: DATASOURCE,
    gridPos: { h: height, w: p.width, x, y },
    fieldConfig: { defaults: { unit: p.unit, mappings, ...(p.kind === 'timeseries' ? { custom: { lineWidth: 1, fillOpacity: 10, showPoints: 'never' } } : {}) }, overrides: [] },
    options:
      p.kind === 'timeseries'
        ? { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } }
        : p.kind === 'stat'
          ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'none', textMode: 'auto' }
          : { showHeader: true },
    targets: p.queries.map((q, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: q.expr,
      legendFormat: q.legend ?? '__auto',
      ...(p.kind === 'timeseries' ? { range: true } : { instant: true, range: false, ...(p.kind === 'table' ? { format: 'table' } : {}) }),
    })),
  };
}

export function renderDashboard(d: DashboardSpec): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const row of d.rows) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const p of row.panels) {
      if (x + p.width > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      panels.push(panelJson(p, id++, x, y));
      x += p.width;
      rowHeight = Math.max(rowHeight, p.kind === 'timeseries' ? 8 : 5);
    }
    y += rowHeight;
  }
  return {
    uid: d.uid,
    title: d.title,
    description: d.description,
    tags: ['eventraft'],
    editable: true,
    graphTooltip: 1,
    refresh: '30s',
    schemaVersion: 39,
    time: { from: 'now-1h', to: 'now' },
    timezone: '',
    annotations: { list: [] },
    links: [],
    templating: { list: variables(d.variables) },
    panels,
  };
}

/** File name (in dashboardsDir) -> JSON text, exactly as written. */
export function renderDashboards(): Map<string, string> {
  return new Map(dashboardSpecs.map((d) => [`${d.uid.replace(/^eventraft-/, '')}.json`, `${JSON.stringify(renderDashboard(d), null, 2)}\n`]));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
  for (const [file, text] of renderDashboards()) {
    const target = path.join(dashboardsDir, file);
    if (values.check) {
      if ((await readFile(target, 'utf8').catch(() => '')) !== text) {
        process.stderr.write(`${target} is out of date: run npm run dashboards\n`);
        process.exitCode = 1;
      }
    } else {
      await writeFile(target, text);
      process.stdout.write(`wrote ${target}\n`);
    }
  }
}

if (process.argv[1] === import.meta.filename) await main();
