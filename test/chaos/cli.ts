/**
 * `npm run chaos -- [--seconds 60] [--seed N] [--clients 12] [--streams 6]`: the nemesis run of
 * chaos.ts on a fresh local cluster of three node processes, for longer than the test suite's
 * run. Prints each fault, then the report; exits 1 if a check failed, with the nodes' last log
 * lines and the command that replays the same fault schedule.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { NodeCluster, waitForLeader } from '../integration/support/node-cluster.ts';
import { runChaos } from './chaos.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string' },
    clients: { type: 'string', default: '12' },
    streams: { type: 'string', default: '6' },
  },
});
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const seconds = Number(values.seconds);
const problems = [
  ...(Number.isSafeInteger(seed) && seed >= 0 ? [] : [`--seed must be a non-negative integer, got ${String(values.seed)}`]),
  ...(Number.isFinite(seconds) && seconds >= 5 ? [] : [`--seconds must be a number of at least 5, got ${values.seconds}`]),
  ...(['clients', 'streams'] as const).flatMap((k) => (Number.isSafeInteger(Number(values[k])) && Number(values[k]) >= 1 ? [] : [`--${k} must be a positive integer, got ${values[k]}`])),
];
if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\n`);
  process.exit(2);
}
const root = await mkdtemp(path.join(os.tmpdir(), 'eventraft-chaos-'));
// 127.0.0.27-29: apart from the addresses the test suite uses.
const cluster = await NodeCluster.create(root, 3, 27, { EVENTRAFT_LOG_LEVEL: 'info' });
let failed = true;
try {
  cluster.startAll();
  await waitForLeader(cluster);
  process.stdout.write(`chaos: seed ${String(seed)}, ${String(seconds)} s\n`);
  const report = await runChaos({ cluster, seconds, seed, clients: Number(values.clients), streams: Number(values.streams), log: (line) => process.stdout.write(`${line}\n`) });
  const { histories, ...summary } = report;
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  for (const [stream, lines] of Object.entries(histories)) {
    const file = path.resolve(`chaos-${String(seed)}-${stream}.txt`);
    await writeFile(file, `${lines.join('\n')}\n`);
    process.stdout.write(`the history of ${stream} (no legal order): ${file}\n`);
  }
  failed = report.problems.length > 0 || report.notLinearizable.length > 0;
} finally {
  if (failed) process.stdout.write(`${cluster.dumpLogs()}\nFAILED. Same fault schedule: npm run chaos -- --seed ${String(seed)} --seconds ${String(seconds)}\n`);
  await cluster.stopAll('SIGKILL');
  await rm(root, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
