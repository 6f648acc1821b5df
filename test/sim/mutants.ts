/**
 * Deliberately broken variants of the core, to prove the simulator's checks can fail. Each
 * mutant patches one rule on the prototypes and returns a function that restores it.
 */
import { EventStoreStateMachine } from '../../node/core/eventstore/index.ts';
import type { AppendCommand } from '../../node/core/eventstore/index.ts';
import { Raft } from '../../node/core/raft/raft.ts';
import { RaftLog } from '../../node/core/raft/raft-log.ts';
import type { LogIndex } from '../../node/core/raft/types.ts';
import { Simulation } from './simulation.ts';

export type Mutant = 'CommitOldTermByCounting' | 'VoteWithoutLogCheck' | 'ReadWithoutQuorumCheck' | 'AppendIgnoresExpectedVersion' | 'EarlyConflictWithoutReadIndex' | 'ForgetRefusedAppends';

type Proto = Record<string, unknown>;

function patch(proto: object, name: string, replacement: unknown): () => void {
  const p = proto as Proto;
  const original = p[name];
  p[name] = replacement;
  return () => {
    p[name] = original;
  };
}

export function applyMutant(mutant: Mutant): () => void {
  switch (mutant) {
    case 'AppendIgnoresExpectedVersion': {
      // Breaks optimistic concurrency: every append is applied as if it expected 'any'.
      const proto = EventStoreStateMachine.prototype as unknown as Proto;
      const original = proto.append as (this: unknown, b: unknown, cmd: AppendCommand) => unknown;
      return patch(proto, 'append', function (this: unknown, b: unknown, cmd: AppendCommand): unknown {
        return original.call(this, b, { ...cmd, appends: cmd.appends.map((a) => ({ ...a, expectedVersion: 'any' as const })) });
      });
    }
    case 'ForgetRefusedAppends':
      // Breaks exactly-once for retried appends: a refusal is answered but not remembered, so a
      // copy of the append applied later may succeed.
      return patch(EventStoreStateMachine.prototype, 'refuse', (_b: unknown, _cmd: unknown, outcome: unknown): unknown => outcome);
    case 'EarlyConflictWithoutReadIndex':
      // Breaks the append route's early answer: a certain conflict answered from this node's state
      // at once, whose `actual` a lagging replica reports stale.
      return patch(Simulation.prototype, 'awaitReadIndex', function (this: unknown, node: unknown, requestId: string): void {
        (this as { answerPrecheck(n: unknown, id: string): void }).answerPrecheck(node, requestId);
      });
    case 'CommitOldTermByCounting':
      // Breaks §5.4.2: commit any replicated index, whatever its term (the Figure 8 hazard).
      return patch(RaftLog.prototype, 'maybeCommit', function (this: RaftLog, index: LogIndex): boolean {
        if (index > this.committed) {
          this.commitTo(index);
          return true;
        }
        return false;
      });
    case 'VoteWithoutLogCheck':
      // Breaks §5.4.1: grant votes to candidates with stale logs.
      return patch(RaftLog.prototype, 'isUpToDate', () => true);
    case 'ReadWithoutQuorumCheck':
      // Breaks thesis §6.4: answer reads from the local commit index without confirming leadership.
      return patch(Raft.prototype, 'handleReadIndex', function (this: Raft, requestId: string, from: string): void {
        (this as unknown as { answerRead(to: string, id: string, i: LogIndex): void }).answerRead(from, requestId, this.log.committed);
      });
  }
}
