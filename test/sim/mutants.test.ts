import { afterEach, describe, expect, it } from '@jest/globals';
import { runCampaign } from './campaign.ts';
import type { Mutant } from './mutants.ts';
import { applyMutant } from './mutants.ts';
import { churnProfile } from './seeds.ts';

/**
 * The simulator's checks must be able to fail: each test breaks one Raft rule on purpose and
 * requires the simulator to report a violation of the matching invariant within a bounded number
 * of seeds (the same seeds pass with the rule intact: see the campaign suites).
 */
describe('the simulator catches a deliberately broken core', () => {
  let restore: (() => void) | undefined;
  afterEach(() => {
    restore?.();
    restore = undefined;
  });

  const cases: [Mutant, string, Parameters<typeof runCampaign>[2]][] = [
    // §5.4.2 / Figure 8: committing an older-term entry by counting replicas.
    ['CommitOldTermByCounting', 'Leader Completeness', { nodes: 3, steps: 20_000, ...churnProfile }],
    // §5.4.1: voting for a candidate whose log is behind.
    ['VoteWithoutLogCheck', 'Leader Completeness', { nodes: 5, steps: 20_000 }],
    // Thesis §6.4: answering a read without confirming leadership.
    ['ReadWithoutQuorumCheck', 'Linearizability', { nodes: 3, steps: 20_000 }],
    // Optimistic concurrency: an append that ignores its expected version.
    ['AppendIgnoresExpectedVersion', 'Linearizability: the history of stream', { nodes: 3, steps: 20_000, eventStore: true }],
    // Client retries of an append, without the store's memory of refused appends.
    ['ForgetRefusedAppends', 'Exactly-once', { nodes: 3, steps: 20_000, eventStore: true }],
    // The append route's early conflict answer, given without a ReadIndex round.
    ['EarlyConflictWithoutReadIndex', 'Linearizability: the history of stream', { nodes: 3, steps: 20_000, eventStore: true }],
  ];

  it.each(cases)('%s is reported as a %s violation', (mutant, invariant, options) => {
    restore = applyMutant(mutant);
    const result = runCampaign(1, 400, options);
    expect(result.failure).toBeDefined();
    expect(result.failure?.report).toContain(invariant);
    // The report names the seed and how to replay it.
    expect(result.failure?.report).toMatch(/reproduce: npm run sim -- --seed \d+ --nodes \d --steps \d+/);
    if (options.eventStore === true) expect(result.failure?.report).toContain('--event-store');
  }, 300_000);
});
