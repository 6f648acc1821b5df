import { describe, expect, it } from '@jest/globals';
import { runCampaign } from './campaign.ts';

/**
 * The simulator replicating the event store: clients make conditional appends to a few streams
 * and strong reads of their versions, through crashes, partitions, membership changes and
 * snapshot installs. After every applied entry, replicas at the same index must have the same
 * store hash; at the end, every stream's history must be linearizable.
 */
describe('simulation with the event store', () => {
  it.each([
    [3, 300],
    [5, 200],
  ])('%i voters: %i seeds keep the store identical across replicas and every stream linearizable', (nodes, seeds) => {
    const result = runCampaign(1, seeds, { nodes, steps: 20_000, eventStore: true });
    if (result.failure) throw new Error(result.failure.report);
    expect(result.seeds).toBe(seeds);
    // The histories must be substantial, with both outcomes of conditional appends.
    expect(result.totals.streamOperations).toBeGreaterThan(seeds * 100);
    expect(result.totals.readsServed).toBeGreaterThan(seeds * 10);
  }, 300_000);
});
