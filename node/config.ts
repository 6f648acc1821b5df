import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import type { NodeId } from './core/raft/index.ts';
import { parseHostPort } from './shell/transport/index.ts';
import type { HostPort } from './shell/transport/index.ts';
import type { CacheSettings } from './shell/cache/index.ts';
import { formatMemberAddress } from './shell/member-address.ts';

/** A node's configuration: parsed once at start, validated, frozen. */
export interface NodeConfig {
  readonly nodeId: NodeId;
  /** Peers from another cluster are refused at the transport handshake. */
  readonly clusterId: string;
  readonly peerListen: HostPort;
  /** host:port other nodes dial to reach this one. */
  readonly peerAdvertise: string;
  readonly httpListen: HostPort;
  /** host:port clients and other nodes use for this node's HTTP API. */
  readonly httpAdvertise: string;
  readonly dataDir: string;
  /** Founding members (id -> member address), when bootstrapping a new cluster. */
  readonly initialMembers: Readonly<Record<string, string>> | undefined;
  /** Start empty and wait to be added by the leader (never bootstraps). */
  readonly join: boolean;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly snapshotThreshold: number;
  readonly snapshotKeepEntries: number;
  readonly requestTimeoutMs: number;
  readonly maxBodyBytes: number;
  /** A directory of extra domain modules to load beside the built-in ones. */
  readonly domainsDir: string | undefined;
  /** Largest event accepted (its data and metadata as JSON, in bytes). */
  readonly maxEventBytes: number;
  /** Most events accepted in one append request. */
  readonly maxAppendEvents: number;
  /** Aggregates whose folded state is kept in memory between commands and reads. */
  readonly keptAggregates: number;
  /** When set, admin endpoints require `Authorization: Bearer <token>`. */
  readonly adminToken: string | undefined;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** The Redis cache; undefined: no cache, every read goes to the store. */
  readonly redis: RedisConfig | undefined;
}

/** The Redis cache's settings. */
export type RedisConfig = CacheSettings;

/** Every setting, its environment variable and its default. */
export const settings = {
  nodeId: { env: 'EVENTRAFT_NODE_ID', help: 'this node\'s id, e.g. eventraft-0 (required)' },
  clusterId: { env: 'EVENTRAFT_CLUSTER_ID', default: 'eventraft', help: 'cluster name; peers of other clusters are refused' },
  peerListen: { env: 'EVENTRAFT_PEER_LISTEN', default: '127.0.0.1:7000', help: 'host:port to accept peer connections on' },
  peerAdvertise: { env: 'EVENTRAFT_PEER_ADVERTISE', help: 'host:port peers dial (default: the listen address; required when listening on 0.0.0.0)' },
  httpListen: { env: 'EVENTRAFT_HTTP_LISTEN', default: '127.0.0.1:8080', help: 'host:port of the HTTP API' },
  httpAdvertise: { env: 'EVENTRAFT_HTTP_ADVERTISE', help: 'host:port clients use (default: the listen address)' },
  dataDir: { env: 'EVENTRAFT_DATA_DIR', help: 'data directory (default ./data/<node id>)' },
  memberIncarnations: {
    env: 'EVENTRAFT_MEMBER_INCARNATIONS',
    help: 'id=n,...: a listed node keeps its data in <dataDir>/incarnation-<n>, so that a member added again under the same id (n bumped) starts empty',
  },
  initialMembers: { env: 'EVENTRAFT_INITIAL_MEMBERS', help: 'founding members: id=peerHost:port/httpHost:port,... (omit with join)' },
  join: { env: 'EVENTRAFT_JOIN', default: false, help: 'true: start empty and wait to be added by the leader' },
  tickMs: { env: 'EVENTRAFT_TICK_MS', default: 100, help: 'Raft tick interval in ms' },
  electionTicks: { env: 'EVENTRAFT_ELECTION_TICKS', default: 10, help: 'ticks without a leader before campaigning (randomised x[1,2))' },
  heartbeatTicks: { env: 'EVENTRAFT_HEARTBEAT_TICKS', default: 1, help: 'ticks between leader heartbeats (< election ticks)' },
  snapshotThreshold: { env: 'EVENTRAFT_SNAPSHOT_THRESHOLD', default: 10_000, help: 'applied entries between snapshots' },
  snapshotKeepEntries: { env: 'EVENTRAFT_SNAPSHOT_KEEP_ENTRIES', default: 1_000, help: 'log entries kept behind a snapshot for slow followers' },
  requestTimeoutMs: { env: 'EVENTRAFT_REQUEST_TIMEOUT_MS', default: 5_000, help: 'how long a write or strong read may wait' },
  maxBodyBytes: { env: 'EVENTRAFT_MAX_BODY_BYTES', default: 1_048_576, help: 'largest accepted HTTP request body' },
  domainsDir: { env: 'EVENTRAFT_DOMAINS_DIR', help: 'directory of extra domain modules (.ts/.js files default-exporting a DomainModule)' },
  maxEventBytes: { env: 'EVENTRAFT_MAX_EVENT_BYTES', default: 262_144, help: 'largest event (data + metadata as JSON)' },
  maxAppendEvents: { env: 'EVENTRAFT_MAX_APPEND_EVENTS', default: 1_000, help: 'most events in one append request' },
  keptAggregates: { env: 'EVENTRAFT_KEPT_AGGREGATES', default: 10_000, help: 'aggregates whose folded state is kept in memory (a command folds on from it through new events only)' },
  adminToken: { env: 'EVENTRAFT_ADMIN_TOKEN', help: 'bearer token for admin endpoints (or EVENTRAFT_ADMIN_TOKEN_FILE)' },
  logLevel: { env: 'EVENTRAFT_LOG_LEVEL', default: 'info', help: 'fatal|error|warn|info|debug|trace' },
  redisUrl: { env: 'EVENTRAFT_REDIS_URL', help: 'Redis cache: redis://host:port or rediss://host:port (TLS); unset: no cache' },
  redisUsername: { env: 'EVENTRAFT_REDIS_USERNAME', help: 'Redis ACL user' },
  redisPassword: { env: 'EVENTRAFT_REDIS_PASSWORD', help: 'Redis password (prefer EVENTRAFT_REDIS_PASSWORD_FILE, e.g. a mounted Secret)' },
  redisCaFile: { env: 'EVENTRAFT_REDIS_CA_FILE', help: 'PEM CA bundle to verify a rediss:// server' },
  cacheTtlMs: { env: 'EVENTRAFT_CACHE_TTL_MS', default: 300_000, help: 'TTL of cached values and tombstones' },
  cacheTtlJitter: { env: 'EVENTRAFT_CACHE_TTL_JITTER', default: 0.1, help: 'each TTL is drawn from [ttl, ttl x (1 + jitter))' },
  cacheNegativeTtlMs: { env: 'EVENTRAFT_CACHE_NEGATIVE_TTL_MS', default: 2_000, help: 'TTL of negative entries (aggregates or rows that do not exist)' },
  cacheTimeoutMs: { env: 'EVENTRAFT_CACHE_TIMEOUT_MS', default: 50, help: 'longest a Redis command may take before the store answers instead' },
  cacheBreakerFailures: { env: 'EVENTRAFT_CACHE_BREAKER_FAILURES', default: 5, help: 'consecutive Redis failures that open the circuit' },
  cacheBreakerOpenMs: { env: 'EVENTRAFT_CACHE_BREAKER_OPEN_MS', default: 1_000, help: 'how long the circuit stays open before a probe' },
} as const;

const hostPort = '^(\\[[^\\]]+\\]|[^:\\s/]+):\\d{1,5}$';
const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['nodeId'],
  properties: {
    nodeId: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$' },
    clusterId: { type: 'string', minLength: 1, maxLength: 253 },
    peerListen: { type: 'string', pattern: hostPort },
    peerAdvertise: { type: 'string', pattern: hostPort },
    httpListen: { type: 'string', pattern: hostPort },
    httpAdvertise: { type: 'string', pattern: hostPort },
    dataDir: { type: 'string', minLength: 1 },
    memberIncarnations: { type: 'string', minLength: 1 },
    initialMembers: { type: 'string', minLength: 1 },
    join: { type: 'boolean' },
    tickMs: { type: 'integer', minimum: 1, maximum: 10_000 },
    electionTicks: { type: 'integer', minimum: 2, maximum: 1000 },
    heartbeatTicks: { type: 'integer', minimum: 1, maximum: 1000 },
    snapshotThreshold: { type: 'integer', minimum: 1 },
    snapshotKeepEntries: { type: 'integer', minimum: 0 },
    requestTimeoutMs: { type: 'integer', minimum: 1 },
    maxBodyBytes: { type: 'integer', minimum: 1024, maximum: 64 * 1024 * 1024 },
    domainsDir: { type: 'string', minLength: 1 },
    maxEventBytes: { type: 'integer', minimum: 64, maximum: 4 * 1024 * 1024 },
    maxAppendEvents: { type: 'integer', minimum: 1, maximum: 10_000 },
    keptAggregates: { type: 'integer', minimum: 0, maximum: 10_000_000 },
    adminToken: { type: 'string', minLength: 8 },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] },
    redisUrl: { type: 'string', pattern: '^rediss?://[^\\s]+$' },
    redisUsername: { type: 'string', minLength: 1 },
    redisPassword: { type: 'string', minLength: 1 },
    redisCaFile: { type: 'string', minLength: 1 },
    cacheTtlMs: { type: 'integer', minimum: 1_000, maximum: 7 * 24 * 3_600_000 },
    cacheTtlJitter: { type: 'number', minimum: 0, maximum: 1 },
    cacheNegativeTtlMs: { type: 'integer', minimum: 100, maximum: 3_600_000 },
    cacheTimeoutMs: { type: 'integer', minimum: 1, maximum: 10_000 },
    cacheBreakerFailures: { type: 'integer', minimum: 1, maximum: 1_000 },
    cacheBreakerOpenMs: { type: 'integer', minimum: 10, maximum: 600_000 },
  },
} as const;

const ajv = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: false });
const validate = ajv.compile(schema);

export type ConfigResult = { readonly ok: true; readonly config: NodeConfig } | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Builds the config from an optional JSON file (EVENTRAFT_CONFIG) overlaid by environment
 * variables. Reports every problem at once; never throws for bad input.
 */
export function parseConfig(env: NodeJS.ProcessEnv): ConfigResult {
  const problems: string[] = [];
  const raw: Record<string, unknown> = {};
  const file = env.EVENTRAFT_CONFIG;
  if (file !== undefined && file !== '') {
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) problems.push(`${file}: must contain a JSON object`);
      else Object.assign(raw, parsed);
    } catch (err) {
      problems.push(`${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  for (const [key, s] of Object.entries(settings)) {
    const v = env[s.env];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  const tokenFile = env.EVENTRAFT_ADMIN_TOKEN_FILE;
  if (tokenFile !== undefined && tokenFile !== '') {
    try {
      raw.adminToken = readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      problems.push(`EVENTRAFT_ADMIN_TOKEN_FILE: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const redisPasswordFile = env.EVENTRAFT_REDIS_PASSWORD_FILE;
  if (redisPasswordFile !== undefined && redisPasswordFile !== '') {
    try {
      raw.redisPassword = readFileSync(redisPasswordFile, 'utf8').trim();
    } catch (err) {
      problems.push(`EVENTRAFT_REDIS_PASSWORD_FILE: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (typeof raw.initialMembers === 'object' && raw.initialMembers !== null) {
    // A config file may give members as an object {id: address}.
    raw.initialMembers = Object.entries(raw.initialMembers as Record<string, unknown>).map(([k, v]) => `${k}=${String(v)}`).join(',');
  }

  if (!validate(raw)) {
    for (const e of validate.errors ?? []) {
      const params = e.params as { missingProperty?: string; additionalProperty?: string };
      const path = e.instancePath.replace(/^\//, '');
      const key = path !== '' ? path : (params.missingProperty ?? params.additionalProperty ?? '');
      const env = (settings as Record<string, { env: string } | undefined>)[key]?.env;
      problems.push(`${key}${env === undefined ? '' : ` (${env})`}: ${e.message ?? 'invalid'}${e.keyword === 'additionalProperties' ? ' - unknown setting' : ''}`);
    }
    return { ok: false, problems };
  }
  const v = raw as Record<string, unknown>;
  const get = (k: keyof typeof settings): unknown => v[k] ?? (settings[k] as { default?: unknown }).default;

  const nodeId = get('nodeId') as string;
  const peerListen = parseHostPort(get('peerListen') as string);
  const httpListen = parseHostPort(get('httpListen') as string);
  if (peerListen === undefined) problems.push('peerListen (EVENTRAFT_PEER_LISTEN): port must be 1-65535');
  if (httpListen === undefined) problems.push('httpListen (EVENTRAFT_HTTP_LISTEN): port must be 1-65535');
  const wildcard = (hp: HostPort | undefined): boolean => hp !== undefined && (hp.host === '0.0.0.0' || hp.host === '::');
  const peerAdvertise = (v.peerAdvertise as string | undefined) ?? (wildcard(peerListen) ? undefined : (get('peerListen') as string));
  const httpAdvertise = (v.httpAdvertise as string | undefined) ?? (wildcard(httpListen) ? undefined : (get('httpListen') as string));
  if (peerAdvertise === undefined) problems.push('peerAdvertise (EVENTRAFT_PEER_ADVERTISE): required when listening on a wildcard address');
  if (httpAdvertise === undefined) problems.push('httpAdvertise (EVENTRAFT_HTTP_ADVERTISE): required when listening on a wildcard address');

  const electionTicks = get('electionTicks') as number;
  const heartbeatTicks = get('heartbeatTicks') as number;
  if (heartbeatTicks >= electionTicks) problems.push(`heartbeatTicks (${heartbeatTicks}) must be less than electionTicks (${electionTicks})`);

  const join = get('join') as boolean;
  let initialMembers: Record<string, string> | undefined;
  const membersSpec = v.initialMembers as string | undefined;
  if (join && membersSpec !== undefined) problems.push('initialMembers and join are exclusive: a joining node is added by the leader');
  if (!join && membersSpec === undefined) problems.push('initialMembers (EVENTRAFT_INITIAL_MEMBERS): required unless join=true');
  if (membersSpec !== undefined) {
    initialMembers = {};
    for (const part of membersSpec.split(',')) {
      const m = /^([a-z0-9][-a-z0-9.]*)=([^/\s]+?)(?:\/([^/\s]+))?$/.exec(part.trim());
      if (!m || parseHostPort(m[2] as string) === undefined || (m[3] !== undefined && parseHostPort(m[3]) === undefined)) {
        problems.push(`initialMembers: "${part}" is not id=peerHost:port[/httpHost:port]`);
        continue;
      }
      initialMembers[m[1] as string] = formatMemberAddress(m[2] as string, m[3]);
    }
    if (!join && !(nodeId in initialMembers)) problems.push(`initialMembers must include this node (${nodeId})`);
    const count = Object.keys(initialMembers).length;
    if (count % 2 === 0) problems.push(`initialMembers has ${count} members: use an odd number so a majority survives the same failures`);
  }
  let incarnation: number | undefined;
  const incarnations = v.memberIncarnations as string | undefined;
  if (incarnations !== undefined) {
    for (const part of incarnations.split(',')) {
      const m = /^([a-z0-9][-a-z0-9.]*)=([1-9][0-9]{0,8})$/.exec(part.trim());
      if (!m) problems.push(`memberIncarnations (EVENTRAFT_MEMBER_INCARNATIONS): "${part}" is not id=n with n >= 1`);
      else if (m[1] === nodeId) incarnation = Number(m[2]);
    }
  }
  const redisUrl = v.redisUrl as string | undefined;
  if (redisUrl === undefined) {
    for (const k of ['redisUsername', 'redisPassword', 'redisCaFile'] as const) if (v[k] !== undefined) problems.push(`${k} (${settings[k].env}) is set but EVENTRAFT_REDIS_URL is not`);
  } else {
    if (/^rediss?:\/\/[^/@]*:[^/@]*@/.test(redisUrl)) problems.push('redisUrl (EVENTRAFT_REDIS_URL): put the password in EVENTRAFT_REDIS_PASSWORD_FILE, not in the URL (URLs get logged)');
    if (v.redisCaFile !== undefined && !redisUrl.startsWith('rediss://')) problems.push('redisCaFile (EVENTRAFT_REDIS_CA_FILE) needs a rediss:// URL');
  }
  if (problems.length > 0) return { ok: false, problems };

  const adminToken = v.adminToken as string | undefined;
  const config: NodeConfig = {
    nodeId: nodeId as NodeId,
    clusterId: get('clusterId') as string,
    peerListen: peerListen as HostPort,
    peerAdvertise: peerAdvertise as string,
    httpListen: httpListen as HostPort,
    httpAdvertise: httpAdvertise as string,
    dataDir: incarnationDir((v.dataDir as string | undefined) ?? `./data/${nodeId}`, incarnation),
    initialMembers: initialMembers === undefined ? undefined : Object.freeze(initialMembers),
    join,
    tickMs: get('tickMs') as number,
    electionTicks,
    heartbeatTicks,
    snapshotThreshold: get('snapshotThreshold') as number,
    snapshotKeepEntries: get('snapshotKeepEntries') as number,
    requestTimeoutMs: get('requestTimeoutMs') as number,
    maxBodyBytes: get('maxBodyBytes') as number,
    domainsDir: v.domainsDir as string | undefined,
    maxEventBytes: get('maxEventBytes') as number,
    maxAppendEvents: get('maxAppendEvents') as number,
    keptAggregates: get('keptAggregates') as number,
    adminToken,
    logLevel: get('logLevel') as NodeConfig['logLevel'],
    redis:
      redisUrl === undefined
        ? undefined
        : {
            url: redisUrl,
            username: v.redisUsername as string | undefined,
            password: v.redisPassword as string | undefined,
            caFile: v.redisCaFile as string | undefined,
            ttlMs: get('cacheTtlMs') as number,
            ttlJitter: get('cacheTtlJitter') as number,
            negativeTtlMs: get('cacheNegativeTtlMs') as number,
            commandTimeoutMs: get('cacheTimeoutMs') as number,
            breakerFailureThreshold: get('cacheBreakerFailures') as number,
            breakerOpenMs: get('cacheBreakerOpenMs') as number,
          },
  };
  return { ok: true, config: Object.freeze(config) };
}

/** `eventraft node --help`. */
export function configHelp(): string {
  const lines = ['Usage: eventraft node', '', 'Runs one eventraft node. Configure it with environment variables (or a JSON file in EVENTRAFT_CONFIG):', ''];
  for (const [key, s] of Object.entries(settings)) {
    const d = (s as { default?: string | number | boolean }).default;
    lines.push(`  ${s.env.padEnd(32)} ${s.help}${d === undefined ? '' : ` [default: ${String(d)}]`}  (${key})`);
  }
  lines.push('', 'Exit codes: 0 clean stop (SIGTERM/SIGINT), 1 fatal error, 2 invalid configuration.');
  return lines.join('\n');
}

/**
 * The data directory of one incarnation of a member. The operator may add an ordinal again after
 * it was removed while its volume was kept; that member must start empty (its old log and
 * membership belong to a removed member), so the operator lists it with a new incarnation and the
 * node uses a new directory beside the old one. Unlisted nodes use the directory as given.
 */
function incarnationDir(dataDir: string, incarnation: number | undefined): string {
  return incarnation === undefined ? dataDir : path.join(dataDir, `incarnation-${incarnation}`);
}
