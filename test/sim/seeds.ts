import { expect } from '@jest/globals';
import { runCampaign } from './campaign.ts';

/**
 * Seed campaigns in `npm test`. Each seed runs `steps` events of chaos (drops, duplicates, delays,
 * partitions, crashes losing unsynced writes, membership changes, transfers, snapshots, client
 * writes and reads), checking every safety invariant after each event, then heals and checks
 * liveness. A failure prints the seed, the replay command and the last events.
 */
export function expectSeedsPass(nodes: number, firstSeed: number, seeds: number, steps: number): void {
  const result = runCampaign(firstSeed, seeds, { nodes, steps });
  if (result.failure) throw new Error(result.failure.report);
  expect(result.seeds).toBe(seeds);
  // The runs must actually exercise the protocol, not idle.
  expect(result.totals.writesAcked).toBeGreaterThan(seeds);
  expect(result.totals.leadersElected).toBeGreaterThanOrEqual(seeds);
}

/**
 * Leader churn: leaders crash soon after election and every AppendEntries carries one entry, so
 * followers acknowledge old-term entries before the new leader's no-op - the ground on which the
 * Figure 8 hazard (§5.4.2) can occur at all.
 */
export const churnProfile = {
  faults: { leaderCrash: 0.08, crash: 0.01, drop: 0.1, maxDelay: 60, confChange: 0, transfer: 0, partition: 0.01 },
  raft: { maxMsgBytes: 1 },
} as const;
