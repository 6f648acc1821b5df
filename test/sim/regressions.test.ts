import { describe, it } from '@jest/globals';
import { runCampaign } from './campaign.ts';

/**
 * Every seed that ever failed, with what it exposed. Seeds replay their original schedule only on
 * the simulator version that found them (new fault kinds draw from the same streams), so each
 * behaviour is also pinned by a scripted unit test; these keep the historical seeds running.
 */
const regressions: { seed: number; nodes: number; steps: number; found: string }[] = [
  { seed: 7, nodes: 3, steps: 30_000, found: 'a single voter sent appends before its new term was durable' },
  { seed: 47, nodes: 1, steps: 30_000, found: 'a removed leader stepped down and left the cluster unable to elect' },
  { seed: 1046, nodes: 1, steps: 30_000, found: 'a founder that crashed before its bootstrap was durable never bootstrapped again (sim driver)' },
  { seed: 379, nodes: 3, steps: 20_000, found: 'Election Safety counted a leader whose term was not durable yet (checker)' },
  { seed: 1975, nodes: 1, steps: 30_000, found: 'membership history lost on snapshot restore while older entries were still being applied' },
  { seed: 1105, nodes: 3, steps: 30_000, found: 'membership history lost on snapshot restore while older entries were still being applied' },
  { seed: 1386, nodes: 7, steps: 30_000, found: 'membership history lost on snapshot restore while older entries were still being applied' },
  { seed: 128, nodes: 1, steps: 20_000, found: 'a learner that never acknowledged anything was promoted' },
  { seed: 477, nodes: 3, steps: 20_000, found: 'a removed leader restarted from a snapshot covering its removal could not hand over' },
  { seed: 63, nodes: 7, steps: 20_000, found: 'a vote superseded by a durable later term was flagged as not durable (checker)' },
  { seed: 203152, nodes: 3, steps: 20_000, found: 'voters refusing candidates outside their own (stale) configuration deadlocked the cluster' },
];

describe('simulation regressions', () => {
  it.each(regressions)('seed $seed ($nodes voters): $found', ({ seed, nodes, steps }) => {
    const result = runCampaign(seed, 1, { nodes, steps });
    if (result.failure) throw new Error(result.failure.report);
  });
});
