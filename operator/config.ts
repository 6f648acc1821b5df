import { hostname } from 'node:os';
import { Ajv } from 'ajv';
import { parsePodNetwork } from './reconcile/pod-network.ts';
import type { PodNetwork } from './reconcile/pod-network.ts';

/** The operator's settings, from EVENTRAFT_OPERATOR_* environment variables, parsed and checked once. */
export interface OperatorConfig {
  /** A kubeconfig file; undefined: in-cluster service account (or the default kubeconfig). */
  readonly kubeconfig: string | undefined;
  /** Reconcile RaftClusters of this namespace only; undefined: every namespace. */
  readonly watchNamespace: string | undefined;
  readonly leaseNamespace: string;
  readonly leaseName: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly httpListen: { readonly host: string; readonly port: number };
  readonly nodeImage: string;
  readonly redisImage: string;
  readonly podNetwork: PodNetwork;
  readonly podNetworkName: string;
  readonly workers: number;
  readonly failpoints: string | undefined;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
}

export const operatorSettings = {
  kubeconfig: { env: 'EVENTRAFT_OPERATOR_KUBECONFIG', help: 'kubeconfig file (default: in-cluster service account, else ~/.kube/config)' },
  watchNamespace: { env: 'EVENTRAFT_OPERATOR_WATCH_NAMESPACE', help: 'reconcile RaftClusters of this namespace only (default: all namespaces)' },
  leaseNamespace: { env: 'EVENTRAFT_OPERATOR_LEASE_NAMESPACE', help: 'namespace of the leader-election Lease (default: POD_NAMESPACE, else default)' },
  leaseName: { env: 'EVENTRAFT_OPERATOR_LEASE_NAME', default: 'eventraft-operator', help: 'name of the leader-election Lease' },
  identity: { env: 'EVENTRAFT_OPERATOR_IDENTITY', help: 'this replica in the Lease (default: POD_NAME, else host-pid)' },
  leaseDurationMs: { env: 'EVENTRAFT_OPERATOR_LEASE_DURATION_MS', default: 15_000, help: 'a Lease not renewed for this long may be taken over' },
  renewDeadlineMs: { env: 'EVENTRAFT_OPERATOR_RENEW_DEADLINE_MS', default: 10_000, help: 'a leader that could not renew for this long stops (< lease duration)' },
  retryPeriodMs: { env: 'EVENTRAFT_OPERATOR_RETRY_PERIOD_MS', default: 2_000, help: 'how often to renew or try to acquire (< renew deadline)' },
  httpListen: { env: 'EVENTRAFT_OPERATOR_HTTP_LISTEN', default: '0.0.0.0:8081', help: 'host:port of /healthz, /readyz and /metrics' },
  nodeImage: { env: 'EVENTRAFT_OPERATOR_NODE_IMAGE', default: 'ghcr.io/eventraft/eventraft:latest', help: 'node image for RaftClusters without spec.image (the chart sets the operator\'s own)' },
  redisImage: { env: 'EVENTRAFT_OPERATOR_REDIS_IMAGE', default: 'redis:7.4-alpine', help: 'image of managed Redis' },
  podNetwork: { env: 'EVENTRAFT_OPERATOR_POD_NETWORK', default: 'dns', help: 'dns (Kubernetes) or loopback:127.a.b (the local process-based StatefulSet stand-in)' },
  workers: { env: 'EVENTRAFT_OPERATOR_WORKERS', default: 2, help: 'RaftClusters reconciled in parallel (one pass per cluster at a time)' },
  failpoints: { env: 'EVENTRAFT_OPERATOR_FAILPOINTS', help: 'tests only: name[,name] of places where the operator kills itself' },
  logLevel: { env: 'EVENTRAFT_OPERATOR_LOG_LEVEL', default: 'info', help: 'fatal|error|warn|info|debug|trace' },
} as const;

const dnsLabel = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';
const validate = new Ajv({ allErrors: true, coerceTypes: true }).compile({
  type: 'object',
  additionalProperties: false,
  properties: {
    kubeconfig: { type: 'string', minLength: 1 },
    watchNamespace: { type: 'string', pattern: dnsLabel },
    leaseNamespace: { type: 'string', pattern: dnsLabel },
    leaseName: { type: 'string', pattern: dnsLabel },
    identity: { type: 'string', minLength: 1, maxLength: 253 },
    leaseDurationMs: { type: 'integer', minimum: 1_000, maximum: 600_000 },
    renewDeadlineMs: { type: 'integer', minimum: 500, maximum: 600_000 },
    retryPeriodMs: { type: 'integer', minimum: 100, maximum: 600_000 },
    httpListen: { type: 'string', pattern: '^(\\[[^\\]]+\\]|[^:\\s/]+):\\d{1,5}$' },
    nodeImage: { type: 'string', minLength: 1 },
    redisImage: { type: 'string', minLength: 1 },
    podNetwork: { type: 'string', pattern: '^(dns|loopback:127\\.\\d{1,3}\\.\\d{1,3})$' },
    workers: { type: 'integer', minimum: 1, maximum: 64 },
    failpoints: { type: 'string' },
    logLevel: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] },
  },
});

export type OperatorConfigResult = { readonly ok: true; readonly config: OperatorConfig } | { readonly ok: false; readonly problems: readonly string[] };

/** Every problem at once; never throws for bad input. */
export function parseOperatorConfig(env: NodeJS.ProcessEnv): OperatorConfigResult {
  const raw: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(operatorSettings)) {
    const v = env[s.env];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  if (!validate(raw)) {
    const problems = (validate.errors ?? []).map((e) => {
      const key = e.instancePath.replace(/^\//, '');
      const envName = (operatorSettings as Record<string, { env: string } | undefined>)[key]?.env;
      return `${key}${envName === undefined ? '' : ` (${envName})`}: ${e.message ?? 'invalid'}`;
    });
    return { ok: false, problems };
  }
  const get = (k: keyof typeof operatorSettings): unknown => raw[k] ?? (operatorSettings[k] as { default?: unknown }).default;
  const problems: string[] = [];
  const leaseDurationMs = get('leaseDurationMs') as number;
  const renewDeadlineMs = get('renewDeadlineMs') as number;
  const retryPeriodMs = get('retryPeriodMs') as number;
  if (!(retryPeriodMs < renewDeadlineMs && renewDeadlineMs < leaseDurationMs)) problems.push(`need retryPeriodMs (${String(retryPeriodMs)}) < renewDeadlineMs (${String(renewDeadlineMs)}) < leaseDurationMs (${String(leaseDurationMs)})`);
  const listen = /^(\[[^\]]+\]|[^:\s/]+):(\d{1,5})$/.exec(get('httpListen') as string) as RegExpExecArray;
  const port = Number(listen[2]);
  if (port > 65_535) problems.push('httpListen (EVENTRAFT_OPERATOR_HTTP_LISTEN): port must be 0-65535');
  if (problems.length > 0) return { ok: false, problems };
  const podNetworkName = get('podNetwork') as string;
  return {
    ok: true,
    config: {
      kubeconfig: raw.kubeconfig as string | undefined,
      watchNamespace: raw.watchNamespace as string | undefined,
      leaseNamespace: (raw.leaseNamespace as string | undefined) ?? env.POD_NAMESPACE ?? 'default',
      leaseName: get('leaseName') as string,
      identity: (raw.identity as string | undefined) ?? env.POD_NAME ?? `${hostname()}-${String(process.pid)}`,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
      httpListen: { host: (listen[1] as string).replace(/^\[|\]$/g, ''), port },
      nodeImage: get('nodeImage') as string,
      redisImage: get('redisImage') as string,
      podNetwork: parsePodNetwork(podNetworkName),
      podNetworkName,
      workers: get('workers') as number,
      failpoints: raw.failpoints as string | undefined,
      logLevel: get('logLevel') as OperatorConfig['logLevel'],
    },
  };
}

export function operatorConfigHelp(): string {
  const lines = Object.values(operatorSettings).map((s) => `  ${s.env.padEnd(40)} ${s.help}${'default' in s ? ` (default ${String(s.default)})` : ''}`);
  return `eventraft operator: reconciles RaftClusters. Settings (environment variables):\n${lines.join('\n')}`;
}
