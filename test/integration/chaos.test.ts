import { describe, expect, it } from '@jest/globals';
import { runChaos } from '../chaos/chaos.ts';
import { clusterPerTest } from './support/cluster-fixture.ts';
import { waitForLeader } from './support/node-cluster.ts';

const fixture = clusterPerTest();

describe('a 3-node cluster of real processes under a nemesis', () => {
  it('keeps every stream linearizable and every acknowledged append, once, through kill -9, SIGSTOP, SIGTERM and lost quorum', async () => {
    const cluster = await fixture.start(24);
    await waitForLeader(cluster);
    // A fixed seed fixes the fault schedule; `npm run chaos` runs longer ones.
    const faults: string[] = [];
    const report = await runChaos({ cluster, seconds: 40, seed: 15, log: (line) => faults.push(line) });
    const { histories, ...summary } = report;
    process.stdout.write(`chaos: ${JSON.stringify({ ...summary, faults: summary.faults.length })}\n`);
    for (const [stream, lines] of Object.entries(histories)) process.stderr.write(`the history of ${stream}, which has no legal order:\n${lines.join('\n')}\n`);
    expect(report.problems).toEqual([]);
    expect(report.notLinearizable).toEqual([]);
    // The run did what it is for: faults of every kind, and work that crossed them.
    expect(report.faults.length).toBeGreaterThanOrEqual(8);
    expect(new Set(report.faults.map((f) => f.split(' node-')[0])).size).toBeGreaterThanOrEqual(3);
    expect(report.appends.acknowledged).toBeGreaterThan(300);
    expect(report.appends.conflicts).toBeGreaterThan(0);
    expect(report.strongReads.answered).toBeGreaterThan(100);
    expect(report.events).toBe(report.appends.acknowledged + report.appends.unansweredApplied);
    fixture.passed();
  }, 180_000);
});
