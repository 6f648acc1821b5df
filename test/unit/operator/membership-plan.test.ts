import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { planMembership, quorum } from '../../../operator/membership/plan.ts';
import type { Observed, ObservedMember, Step } from '../../../operator/membership/plan.ts';

/** A cluster as the planner sees it, with the effect of each step and of time passing. */
class Model {
  sts: number;
  leader: number | undefined;
  members = new Map<number, { role: 'voter' | 'learner'; lag: number }>();
  volumes = new Set<number>();
  readonly desired: number;
  private readonly deleteVolumes: boolean;
  constructor(desired: number, size: number, leader: number, deleteVolumes = true) {
    this.desired = desired;
    this.deleteVolumes = deleteVolumes;
    this.sts = size;
    this.leader = leader;
    for (let i = 0; i < size; i++) {
      this.members.set(i, { role: 'voter', lag: 0 });
      this.volumes.add(i);
    }
  }

  observe(): Observed {
    const members: ObservedMember[] = [...this.members].map(([ordinal, m]) => ({ ordinal, role: m.role, lag: m.lag, healthy: ordinal < this.sts }));
    return { desired: this.desired, statefulSetReplicas: this.sts, leader: this.leader, members, volumes: [...this.volumes], deleteVolumesWhenScaled: this.deleteVolumes, maxPromoteLag: 10 };
  }

  apply(step: Step): void {
    switch (step.kind) {
      case 'addLearner':
        this.members.set(step.ordinal, { role: 'learner', lag: 1_000 });
        return;
      case 'scaleStatefulSet':
        this.sts = step.replicas;
        for (let i = 0; i < step.replicas; i++) this.volumes.add(i);
        return;
      case 'promote':
        this.members.set(step.ordinal, { role: 'voter', lag: 0 });
        return;
      case 'transferLeadership':
        this.leader = step.to;
        return;
      case 'removeMember':
        this.members.delete(step.ordinal);
        return;
      case 'deleteVolume':
        this.volumes.delete(step.ordinal);
        return;
      default:
    }
  }

  /** Learners whose pods run catch up. */
  tick(): void {
    for (const [ordinal, m] of this.members) if (m.role === 'learner' && ordinal < this.sts) m.lag = 0;
  }

  voters(): number[] {
    return [...this.members].filter(([, m]) => m.role === 'voter').map(([o]) => o).sort((a, b) => a - b);
  }
}

/** Applies the planner's steps, letting learners catch up between them, until it converges. */
function drive(m: Model): Step[] {
  const steps: Step[] = [];
  for (let s = planMembership(m.observe()); s.kind !== 'converged'; s = planMembership(m.observe())) {
    if (steps.length > 200) throw new Error(`no convergence: ${JSON.stringify(steps.slice(-5))}`);
    steps.push(s);
    m.apply(s);
    m.tick();
  }
  return steps;
}

/** Voters with a running pod: the ones that can form a quorum. */
function healthyQuorum(o: Observed): boolean {
  const voters = o.members.filter((m) => m.role === 'voter');
  return voters.filter((m) => m.healthy).length >= quorum(voters.length);
}

/** The observation after a step, before anything else happens. */
function after(o: Observed, step: Step): Observed {
  switch (step.kind) {
    case 'removeMember':
      return { ...o, members: o.members.filter((m) => m.ordinal !== step.ordinal) };
    case 'promote':
      return { ...o, members: o.members.map((m) => (m.ordinal === step.ordinal ? { ...m, role: 'voter' as const } : m)) };
    case 'scaleStatefulSet':
      return { ...o, statefulSetReplicas: step.replicas, members: o.members.map((m) => (m.ordinal >= step.replicas ? { ...m, healthy: false } : m)) };
    default:
      return o;
  }
}

describe('the membership planner', () => {
  it('scales between every pair of sizes one member at a time, keeping a healthy quorum, and converges', () => {
    for (const from of [1, 3, 5, 7, 9]) {
      for (const to of [1, 3, 5, 7, 9]) {
        for (const leader of [0, from - 1]) {
          const m = new Model(to, from, leader);
          const steps: string[] = [];
          for (let i = 0; i < 200; i++) {
            const o = m.observe();
            const step = planMembership(o);
            if (step.kind === 'converged') break;
            steps.push(step.kind === 'wait' ? `wait(${step.reason})` : step.kind);
            expect(healthyQuorum(after(o, step))).toBe(true);
            m.apply(step);
            m.tick();
          }
          expect({ from, to, leader, last: planMembership(m.observe()).kind }).toEqual({ from, to, leader, last: 'converged' });
          expect(m.voters()).toEqual(Array.from({ length: to }, (_, i) => i));
          expect([m.sts, [...m.volumes].sort((a, b) => a - b)]).toEqual([to, Array.from({ length: to }, (_, i) => i)]);
          // Growing: learner, pod, promotion per member; shrinking: removal and pod per member.
          if (to > from) expect(steps.filter((s) => s === 'addLearner')).toHaveLength(to - from);
          if (to < from) expect(steps.filter((s) => s === 'removeMember')).toHaveLength(from - to);
          expect(steps.some((s) => s.startsWith('wait'))).toBe(false);
        }
      }
    }
  });

  it('follows the documented order: learner, pod, promotion; leadership off the victim, removal, pod, volume', () => {
    const growth = drive(new Model(5, 3, 0));
    expect(growth).toEqual([
      { kind: 'addLearner', ordinal: 3 },
      { kind: 'scaleStatefulSet', replicas: 4 },
      { kind: 'promote', ordinal: 3 },
      { kind: 'addLearner', ordinal: 4 },
      { kind: 'scaleStatefulSet', replicas: 5 },
      { kind: 'promote', ordinal: 4 },
    ]);
    const shrink = drive(new Model(3, 5, 4));
    expect(shrink).toEqual([
      { kind: 'transferLeadership', to: 0 },
      { kind: 'removeMember', ordinal: 4 },
      { kind: 'scaleStatefulSet', replicas: 4 },
      { kind: 'removeMember', ordinal: 3 },
      { kind: 'scaleStatefulSet', replicas: 3 },
      { kind: 'deleteVolume', ordinal: 4 },
      { kind: 'deleteVolume', ordinal: 3 },
    ]);
  });

  it('waits without a leader, repairs a missing pod instead of shrinking, and keeps volumes when told to', () => {
    const m = new Model(3, 3, 0, false);
    expect(planMembership({ ...m.observe(), leader: undefined })).toEqual({ kind: 'wait', reason: 'no leader: membership changes wait for one' });
    // The StatefulSet was scaled down by hand: the members' pods come back, nobody is removed.
    expect(planMembership({ ...m.observe(), statefulSetReplicas: 1 })).toEqual({ kind: 'scaleStatefulSet', replicas: 3 });
    // A pod is down: no growth until it is back.
    const down = { ...m.observe(), desired: 5, members: m.observe().members.map((x) => (x.ordinal === 2 ? { ...x, healthy: false } : x)) };
    expect(planMembership(down).kind).toBe('wait');
    // Scale-in with Retain leaves the volume.
    const r = new Model(1, 3, 0, false);
    drive(r);
    expect([...r.volumes].sort()).toEqual([0, 1, 2]);
  });

  it('removes a learner left over from a scale-out that was called off, before anything else', () => {
    const m = new Model(3, 3, 0);
    m.apply({ kind: 'addLearner', ordinal: 3 });
    m.apply({ kind: 'scaleStatefulSet', replicas: 4 });
    expect(planMembership(m.observe())).toEqual({ kind: 'removeMember', ordinal: 3 });
  });

  it('never takes a step that breaks a healthy quorum, shrinks below the spec, or removes a member pod (random states)', () => {
    const state = fc
      .record({
        desired: fc.constantFrom(1, 3, 5, 7, 9),
        roles: fc.array(fc.record({ learner: fc.boolean(), lag: fc.option(fc.nat(50), { nil: undefined }), healthy: fc.boolean() }), { minLength: 1, maxLength: 10 }),
        sts: fc.nat(11),
        leaderPick: fc.nat(),
        volumes: fc.uniqueArray(fc.nat(11)),
        deleteVolumes: fc.boolean(),
      })
      .map(({ desired, roles, sts, leaderPick, volumes, deleteVolumes }): Observed => {
        const members = roles.map((r, ordinal): ObservedMember => ({ ordinal, role: r.learner && ordinal > 0 ? 'learner' : 'voter', lag: r.lag, healthy: r.healthy && ordinal < sts }));
        const voters = members.filter((m) => m.role === 'voter');
        return { desired, statefulSetReplicas: sts, leader: voters[leaderPick % voters.length]?.ordinal, members, volumes, deleteVolumesWhenScaled: deleteVolumes, maxPromoteLag: 10 };
      });
    fc.assert(
      fc.property(state, (o) => {
        const step = planMembership(o);
        const voters = o.members.filter((m) => m.role === 'voter');
        if (healthyQuorum(o)) expect(healthyQuorum(after(o, step))).toBe(true);
        if (step.kind === 'removeMember') {
          const victim = o.members.find((m) => m.ordinal === step.ordinal);
          expect(victim).toBeDefined();
          if (victim?.role === 'voter') {
            expect(voters.length).toBeGreaterThan(o.desired);
            expect(victim.ordinal).not.toBe(o.leader);
          }
        }
        if (step.kind === 'scaleStatefulSet') expect(step.replicas).toBeGreaterThanOrEqual(Math.max(-1, ...o.members.map((m) => m.ordinal)) + 1);
        if (step.kind === 'addLearner') {
          expect(voters.length).toBeLessThan(o.desired);
          expect(o.members.some((m) => m.ordinal === step.ordinal)).toBe(false);
        }
        if (step.kind === 'deleteVolume') expect(o.members.some((m) => m.ordinal === step.ordinal)).toBe(false);
        if (step.kind !== 'wait' && step.kind !== 'converged') expect(o.leader).toBeDefined();
      }),
      { numRuns: 5_000 },
    );
  });
});
