/**
 * Composition root: config -> logger -> storage -> state machine -> transport -> driver -> HTTP.
 * Everything is created here and passed down; nothing below reads the environment.
 */
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { configHelp, parseConfig } from './config.ts';
import type { NodeConfig } from './config.ts';
import { EventStoreStateMachine } from './core/eventstore/index.ts';
import type { AppendOutcome } from './core/eventstore/index.ts';
import { SeededRandom } from './core/raft/index.ts';
import { account } from './domains/account.ts';
import { user } from './domains/user.ts';
import { AggregateStates, CommandService, DomainRegistry } from './shell/domains/index.ts';
import { ProjectionRunner, ProjectionStore } from './shell/projections/index.ts';
import { AggregateCache, CacheAside, Invalidator, ProjectionCache, RedisCache } from './shell/cache/index.ts';
import { Driver } from './shell/driver.ts';
import { LmdbEventStorage } from './shell/eventstore/index.ts';
import { createHttpApp } from './shell/http/app.ts';
import { listenHttp } from './shell/http/listen.ts';
import { formatMemberAddress } from './shell/member-address.ts';
import { CacheMetrics } from './shell/metrics/cache-metrics.ts';
import { RaftMetrics } from './shell/metrics/raft-metrics.ts';
import { StoreMetrics } from './shell/metrics/store-metrics.ts';
import { DiskLogStore } from './shell/storage/index.ts';
import { PeerTransport } from './shell/transport/index.ts';

/** How long SIGTERM handling may take before the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 10_000;
/** How long to wait for a leadership transfer on shutdown. */
const TRANSFER_WAIT_MS = 3_000;

export async function runNode(env: NodeJS.ProcessEnv): Promise<void> {
  const parsed = parseConfig(env);
  if (!parsed.ok) {
    process.stderr.write(`eventraft: invalid configuration:\n${parsed.problems.map((p) => `  - ${p}`).join('\n')}\n\nRun "eventraft node --help" for every setting.\n`);
    process.exit(2);
  }
  await startNode(parsed.config);
}

async function startNode(config: NodeConfig): Promise<void> {
  const log = pino({ level: config.logLevel, base: { nodeId: config.nodeId } });
  const fatal = (err: unknown): never => {
    log.fatal({ err }, 'stopping: unrecoverable error');
    process.exit(1);
  };

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'eventraft_' });
  const metrics = new RaftMetrics(registry);

  const store = await DiskLogStore.open(config.dataDir, { onFsync: (s) => { metrics.fsyncSeconds.observe(s); } }).catch(fatal);
  log.info({ dataDir: config.dataDir, ...store.recovery }, 'storage recovered');
  if (store.recovery.tornBytesDiscarded > 0) log.warn({ bytes: store.recovery.tornBytesDiscarded }, 'discarded a torn write at the end of the log');

  let domains: DomainRegistry;
  try {
    const extra = config.domainsDir === undefined ? [] : await DomainRegistry.importDirectory(config.domainsDir);
    domains = new DomainRegistry([account, user, ...extra]);
  } catch (err) {
    return fatal(err);
  }
  log.info({ aggregateTypes: domains.types, projections: domains.projections.map((p) => p.name) }, 'domains loaded');

  let eventStorage: LmdbEventStorage;
  try {
    eventStorage = LmdbEventStorage.open(path.join(config.dataDir, 'events'));
  } catch (err) {
    return fatal(err);
  }
  const events = new EventStoreStateMachine(eventStorage);
  log.info({ appliedIndex: events.appliedIndex, events: events.nextPosition, stateHash: events.stateHash }, 'event store opened');
  const random = new SeededRandom(randomInt(2 ** 31));
  // The driver and the transport point at each other; the transport only calls back once started,
  // after `driver` below is initialised.
  const transport = new PeerTransport(
    {
      id: config.nodeId,
      cluster: config.clusterId,
      listen: config.peerListen,
      snapshotDir: store.snapshotDirectory,
      // Dial from our own address (a wildcard lets the OS choose), so rules between node addresses apply.
      bindHost: config.peerListen.host,
      advertise: config.peerAdvertise,
      random: random.fork(),
      observer: {
        frameRejected: (reason, remote, detail) => {
          metrics.framesRejected.inc({ reason });
          log.warn({ reason, remote, detail }, 'closed a peer connection on a bad frame');
        },
        messageDropped: (_to, reason) => {
          metrics.messagesDropped.inc({ reason });
        },
        peerConnected: (peer) => {
          log.info({ peer }, 'connected to peer');
        },
        peerDisconnected: (peer) => {
          log.warn({ peer }, 'lost connection to peer');
        },
        rtt: (peer, seconds) => {
          metrics.peerRttSeconds.observe({ peer }, seconds);
        },
        unreachable: (peer) => {
          driver.reportUnreachable(peer);
        },
        snapshotSent: (peer, ok) => {
          metrics.snapshotTransfers.inc({ direction: 'sent', outcome: ok ? 'ok' : 'failed' });
          driver.reportSnapshot(peer, ok);
        },
        snapshotReceived: (peer, bytes, err) => {
          metrics.snapshotTransfers.inc({ direction: 'received', outcome: err === undefined ? 'ok' : 'failed' });
          if (err === undefined) log.info({ peer, bytes }, 'received snapshot');
          else log.error({ peer, bytes, err }, 'could not write a snapshot from a peer');
        },
        snapshotData: (_peer, direction, bytes) => {
          metrics.snapshotBytes.inc({ direction }, bytes);
        },
      },
    },
    (m, snapshotFile) => {
      if (snapshotFile === undefined) driver.receive(m);
      else driver.receiveSnapshot(m, snapshotFile);
    },
  );

  const bootstrap = config.join ? undefined : config.initialMembers;
  const driver = Driver.open<AppendOutcome>({
    id: config.nodeId,
    store,
    stateMachine: events,
    transport,
    random: random.fork(),
    log,
    metrics,
    tickMs: config.tickMs,
    raft: { electionTick: config.electionTicks, heartbeatTick: config.heartbeatTicks },
    bootstrap,
    snapshotThreshold: config.snapshotThreshold,
    snapshotKeepEntries: config.snapshotKeepEntries,
    requestTimeoutMs: config.requestTimeoutMs,
    onFatal: fatal,
  });
  const peerAddress = await transport.start().catch(fatal);
  driver.start();

  let projectionStore: ProjectionStore;
  try {
    projectionStore = ProjectionStore.open(path.join(config.dataDir, 'projections'));
  } catch (err) {
    return fatal(err);
  }
  const projections = new ProjectionRunner({ events, domains, store: projectionStore, log, registry });
  const storeMetrics = new StoreMetrics(registry, { refusedAppends: () => events.refusedCount, eventStoreBytes: () => eventStorage.sizeBytes(), dataDir: config.dataDir });
  let counted = events.nextPosition;
  driver.onApplied(() => {
    projections.notify();
    // Positions only grow (a restored snapshot is never behind the state it replaces).
    storeMetrics.eventsAppended.inc(Math.max(0, events.nextPosition - counted));
    counted = events.nextPosition;
  });
  projections.notify(); // catch up with what was applied before this start

  const cacheMetrics = new CacheMetrics(registry);
  const cache =
    config.redis === undefined
      ? undefined
      : new RedisCache({
          ...config.redis,
          namespace: `eventraft:${config.clusterId}`,
          log: log.child({ component: 'cache' }),
          onCircuitState: (state) => {
            cacheMetrics.setCircuit(state);
          },
          onCommand: (op, seconds, ok) => {
            cacheMetrics.duration.observe({ op, outcome: ok ? 'ok' : 'error' }, seconds);
          },
        });
  if (cache === undefined) log.info('no Redis configured (EVENTRAFT_REDIS_URL): aggregate and projection reads go to the store every time');
  const invalidator = cache === undefined ? undefined : new Invalidator({ cache, metrics: cacheMetrics, log });
  const aside = new CacheAside({ cache, metrics: cacheMetrics, log });
  const states = new AggregateStates({ events, registry: domains, maxAggregates: config.keptAggregates });
  const aggregates = new AggregateCache({ aside, cache, invalidator, registry: domains, states, events, log });
  const projectionRows = new ProjectionCache({ aside, cache, invalidator, projections });
  driver.onApplied(() => {
    aggregates.applied();
  });

  const commands = new CommandService({ driver, events, registry: domains, states, now: Date.now });
  const app = createHttpApp({
    driver,
    events,
    domains,
    commands,
    projections,
    requestTimeoutMs: config.requestTimeoutMs,
    storeMetrics,
    registry,
    log,
    maxBodyBytes: config.maxBodyBytes,
    maxEventBytes: config.maxEventBytes,
    maxAppendEvents: config.maxAppendEvents,
    adminToken: config.adminToken,
    aggregates,
    projectionRows,
    cache,
  });
  const server = await listenHttp(app, config.httpListen.port, config.httpListen.host).catch(fatal);
  server.keepAliveTimeout = 65_000;
  log.info(
    { peer: `${peerAddress.host}:${peerAddress.port}`, http: `${config.httpListen.host}:${config.httpListen.port}`, advertise: formatMemberAddress(config.peerAdvertise, config.httpAdvertise) },
    'node started',
  );

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.warn('shutdown deadline reached; exiting');
      process.exit(0);
    }, SHUTDOWN_DEADLINE_MS).unref();
    const d = driver;
    // Hand leadership over first so the cluster does not wait an election timeout for us (a lone
    // voter has no one to hand it to).
    if (d.isLeader() && d.status().membership.voters.length > 1) {
      try {
        const to = d.transferLeadership();
        const deadline = Date.now() + TRANSFER_WAIT_MS;
        while (d.isLeader() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        log.info({ to, stillLeader: d.isLeader() }, 'leadership transfer finished');
      } catch (err) {
        log.warn({ err }, 'could not hand leadership over');
      }
    }
    server.close();
    server.closeAllConnections();
    await d.stop();
    projections.stop();
    await transport.stop();
    await store.close();
    await eventStorage.close();
    await projectionStore.close();
    cache?.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

export { configHelp };
