import { describe, expect, it } from '@jest/globals';
import { sendsBeforePersist } from '../../../../../node/core/raft/index.ts';
import type { LogIndex, Message, NodeId, Term } from '../../../../../node/core/raft/index.ts';

/** One message of each type, at term 5, from a to b. */
function messages(): Message[] {
  const base = { from: 'a' as NodeId, to: 'b' as NodeId, term: 5 as Term };
  const index = 7 as LogIndex;
  return [
    { ...base, type: 'AppendEntries', prevLogIndex: index, prevLogTerm: 5 as Term, entries: [], leaderCommit: index },
    { ...base, type: 'Heartbeat', leaderCommit: index, context: 'r1' },
    { ...base, type: 'HeartbeatResponse', context: 'r1' },
    { ...base, type: 'ReadIndex', requestId: 'r1' },
    { ...base, type: 'ReadIndexResponse', requestId: 'r1', index, reject: false },
    { ...base, type: 'AppendEntriesResponse', reject: false, index, rejectHint: 0 as LogIndex, rejectHintTerm: 0 as Term },
    { ...base, type: 'RequestVote', lastLogIndex: index, lastLogTerm: 5 as Term },
    { ...base, type: 'RequestVoteResponse', reject: false },
    { ...base, type: 'TimeoutNow' },
  ] as Message[];
}

describe('sendsBeforePersist', () => {
  it('lets messages that acknowledge no entries leave before the fsync, once their term is durable', () => {
    const early = messages()
      .filter((m) => sendsBeforePersist(m, 5 as Term))
      .map((m) => m.type);
    expect(early).toEqual(['AppendEntries', 'Heartbeat', 'HeartbeatResponse', 'ReadIndex', 'ReadIndexResponse']);
  });

  it('holds every message whose term is not durable yet (a term this Ready is about to persist)', () => {
    expect(messages().filter((m) => sendsBeforePersist(m, 4 as Term))).toEqual([]);
  });
});
