import { describe, expect, it } from '@jest/globals';
import { runCampaign } from './campaign.ts';

/**
 * The simulator replicating the event store: clients make conditional appends to a few streams
 * (half of them through the HTTP route's early answer to certain conflicts) and strong reads of
 * their versions, through crashes, partitions, membership changes and
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
    // The append route's early conflict answers (after a ReadIndex round) are in the histories.
    expect(result.totals.earlyConflicts).toBeGreaterThan(seeds * 10);
  }, 300_000);
});

describe('event store regression seeds', () => {
  // Seed 10252 (5 voters) once duplicated a forwarded proposal: the copy applied first was refused
  // (WrongExpectedVersion) and answered; the second copy, applied after another append, succeeded.
  // The real transport never duplicates a message (TCP), so the simulator no longer does for
  // proposals in event-store mode; see docs/event-storage.md on client sessions (§6.3).
  // Seeds 20798 and 22221 (3 voters) made the checker's search explode (over 2^24 memo entries):
  // appends whose proposer crashed before answering floated free, and a long partition left
  // dozens of refused appends concurrent. Unanswered appends now enter the history only when a
  // replica applied them successfully, and operations that leave the state unchanged are placed
  // greedily. They were recorded before appends could be answered early (as certain conflicts),
  // so they replay without that route, exactly as recorded.
  it.each([
    [10252, 5],
    [20798, 3],
    [22221, 3],
  ])('seed %i with %i voters', (seed, nodes) => {
    const result = runCampaign(seed, 1, { nodes, steps: 20_000, eventStore: true, earlyConflictShare: 0 });
    if (result.failure) throw new Error(result.failure.report);
  });
});

