/**
 * The operator's composition root: config -> logger -> Kubernetes clients -> reconciler ->
 * controller, started only while this replica holds the leader Lease; /healthz, /readyz and
 * /metrics on EVENTRAFT_OPERATOR_HTTP_LISTEN. SIGTERM stops the controller (reconciles in flight
 * finish), releases the Lease so a standby takes over at once, and exits 0.
 */
import express from 'express';
import { pino } from 'pino';
import { listenHttp } from '../node/shell/http/listen.ts';
import { operatorConfigHelp, parseOperatorConfig } from './config.ts';
import { Controller } from './controller.ts';
import { NodeAdmin } from './reconcile/node-admin.ts';
import { Reconciler } from './reconcile/reconciler.ts';
import { EventRecorder } from './runtime/events.ts';
import { Failpoints } from './runtime/failpoints.ts';
import { connect } from './runtime/kube.ts';
import { LeaderElector } from './runtime/leader-election.ts';
import { OperatorMetrics } from './runtime/metrics.ts';

export async function runOperator(env: NodeJS.ProcessEnv): Promise<void> {
  const parsed = parseOperatorConfig(env);
  if (!parsed.ok) {
    process.stderr.write(`eventraft operator: invalid configuration:\n${parsed.problems.map((p) => `  - ${p}`).join('\n')}\n`);
    process.exit(2);
  }
  const config = parsed.config;
  const log = pino({ level: config.logLevel, base: { component: 'operator', identity: config.identity } });
  const kube = connect(config.kubeconfig);
  const metrics = new OperatorMetrics();
  const reconciler = new Reconciler({
    kube,
    network: config.podNetwork,
    admin: new NodeAdmin(),
    events: new EventRecorder(kube.core, 'eventraft-operator', log),
    failpoints: new Failpoints(config.failpoints),
    log,
    defaultImage: config.nodeImage,
    redisImage: config.redisImage,
  });
  const controller = new Controller({ kube, reconciler, log, metrics, namespace: config.watchNamespace, workers: config.workers });

  const elector = new LeaderElector({
    api: kube.coordination,
    namespace: config.leaseNamespace,
    name: config.leaseName,
    identity: config.identity,
    log,
    leaseDurationMs: config.leaseDurationMs,
    renewDeadlineMs: config.renewDeadlineMs,
    retryPeriodMs: config.retryPeriodMs,
    onStartedLeading: () => {
      metrics.isLeader.set(1);
      controller.start().catch((err: unknown) => {
        log.fatal({ err: String(err) }, 'controller failed to start');
        process.exit(1);
      });
    },
    onStoppedLeading: () => {
      // Another replica may be reconciling already: stop at once, mid-pass if need be (every
      // step is safe to interrupt), and let the pod restart as a standby.
      metrics.isLeader.set(0);
      log.fatal('lost the leader lease; exiting');
      process.exit(1);
    },
  });

  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Ready as a leader with a running controller, and as a standby: both are doing their job.
  app.get('/readyz', (_req, res) => {
    res.json({ status: 'ready', leader: elector.isLeader, controller: controller.isRunning });
  });
  app.get('/metrics', (_req, res, next) => {
    metrics.registry.metrics().then((text) => res.type(metrics.registry.contentType).send(text), next);
  });
  const server = await listenHttp(app, config.httpListen.port, config.httpListen.host).catch((err: unknown): never => {
    log.fatal({ err: String(err), listen: config.httpListen }, 'cannot listen');
    process.exit(1);
  });
  const address = server.address();
  log.info({ listen: typeof address === 'object' && address !== null ? `${address.address}:${String(address.port)}` : address, network: config.podNetworkName, namespace: config.watchNamespace ?? '(all)' }, 'operator started');
  elector.start();

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const deadline = setTimeout(() => {
      log.error('graceful stop took over 10 s; exiting');
      process.exit(1);
    }, 10_000);
    await controller.stop();
    await elector.stop();
    await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    clearTimeout(deadline);
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

export { operatorConfigHelp };
