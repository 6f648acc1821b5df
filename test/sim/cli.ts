/**
 * Long simulation campaigns outside jest:
 *   npm run sim -- --seeds 100000 --nodes 5            consecutive seeds from --start (default 1)
 *   npm run sim -- --seed 1234 --nodes 3 --steps 3000  replay one seed, printing its trace
 *   add --event-store to replicate the event store and check per-stream linearizability
 */
import { parseArgs } from 'node:util';
import { runCampaign } from './campaign.ts';
import { Simulation } from './simulation.ts';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1000' },
    start: { type: 'string', default: '1' },
    seed: { type: 'string' },
    nodes: { type: 'string', default: '5' },
    steps: { type: 'string', default: '20000' },
    'event-store': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  process.stdout.write('usage: npm run sim -- [--seeds N] [--start S] [--seed S] [--nodes 1|3|5|7] [--steps N] [--event-store]\n');
  process.exit(0);
}

const eventStore = values['event-store'];
const nodes = Number(values.nodes);
const steps = Number(values.steps);
if (![1, 3, 5, 7].includes(nodes) || !Number.isInteger(steps) || steps <= 0) {
  process.stderr.write('--nodes must be 1, 3, 5 or 7 and --steps a positive integer\n');
  process.exit(2);
}

if (values.seed !== undefined) {
  const seed = Number(values.seed);
  const result = runCampaign(seed, 1, { nodes, steps, traceLength: 200, eventStore });
  if (result.failure) {
    process.stderr.write(`${result.failure.report}\n`);
    process.exit(1);
  }
  const stats = new Simulation({ seed, nodes, steps, eventStore }).run();
  process.stdout.write(`seed ${seed} ok ${JSON.stringify(stats)}\n`);
  process.exit(0);
}

const seeds = Number(values.seeds);
const start = Number(values.start);
const began = performance.now();
const chunk = 1000;
let done = 0;
const sum = { events: 0, streamOperations: 0, earlyConflicts: 0, appendRetries: 0, writesAcked: 0, readsServed: 0, confChanges: 0, transfers: 0, snapshotsInstalled: 0, crashes: 0, leadersElected: 0, maxTerm: 0 };
while (done < seeds) {
  const n = Math.min(chunk, seeds - done);
  const result = runCampaign(start + done, n, { nodes, steps, eventStore });
  if (result.failure) {
    process.stderr.write(`${result.failure.report}\n`);
    process.exit(1);
  }
  done += n;
  const t = result.totals;
  sum.events += t.steps;
  sum.writesAcked += t.writesAcked;
  sum.streamOperations += t.streamOperations;
  sum.earlyConflicts += t.earlyConflicts;
  sum.appendRetries += t.appendRetries;
  sum.readsServed += t.readsServed;
  sum.confChanges += t.confChanges;
  sum.transfers += t.transfers;
  sum.snapshotsInstalled += t.snapshotsInstalled;
  sum.crashes += t.crashes;
  sum.leadersElected += t.leadersElected;
  sum.maxTerm = Math.max(sum.maxTerm, t.maxTerm);
  const secs = (performance.now() - began) / 1000;
  process.stdout.write(`${done}/${seeds} seeds ok (seeds ${start}-${start + done - 1}, nodes=${nodes}, steps=${steps}${eventStore ? ', event store' : ''}) ${secs.toFixed(0)}s ${JSON.stringify(sum)}\n`);
}
