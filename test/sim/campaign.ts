import { Simulation, SimulationViolation, reproduceCommand } from './simulation.ts';
import type { SimulationOptions, SimulationStats } from './simulation.ts';

export interface CampaignResult {
  readonly seeds: number;
  readonly totals: SimulationStats;
  readonly failure?: { readonly seed: number; readonly report: string };
}

/** Runs consecutive seeds from `firstSeed`; stops at the first violation and reports how to replay it. */
export function runCampaign(firstSeed: number, seeds: number, base: Omit<SimulationOptions, 'seed'>): CampaignResult {
  const totals: SimulationStats = {
    steps: 0, ticks: 0, leadersElected: 0, maxTerm: 0, writesAcked: 0, readsServed: 0, readsAborted: 0, confChanges: 0,
    transfers: 0, snapshotsTaken: 0, snapshotsInstalled: 0, crashes: 0, messagesDelivered: 0, messagesDropped: 0, commitIndex: 0, streamOperations: 0, earlyConflicts: 0, appendRetries: 0, refusalsRemembered: 0,
  };
  for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
    try {
      const stats = new Simulation({ ...base, seed }).run();
      for (const k of Object.keys(totals) as (keyof SimulationStats)[]) {
        totals[k] = k === 'maxTerm' || k === 'commitIndex' ? Math.max(totals[k], stats[k]) : totals[k] + stats[k];
      }
    } catch (err) {
      return { seeds: seed - firstSeed + 1, totals, failure: { seed, report: describeFailure(err, seed, base) } };
    }
  }
  return { seeds, totals };
}

export function describeFailure(err: unknown, seed: number, base: Omit<SimulationOptions, 'seed'>): string {
  const lines = [`seed ${seed} failed: ${err instanceof Error ? err.message : String(err)}`];
  lines.push(`reproduce: ${reproduceCommand(seed, base.nodes, base.steps, base.eventStore)}`);
  if (err instanceof SimulationViolation) {
    lines.push('last events:', ...err.trace.map((l) => `  ${l}`));
  } else if (err instanceof Error && err.stack) {
    lines.push(err.stack);
  }
  return lines.join('\n');
}
