import type { RaftStorage } from './storage.ts';
import type { HardState, Message, Ready, Term } from './types.ts';

/**
 * Whether a Ready must be fsynced before its messages leave (etcd's MustSync): entries, a
 * snapshot, a new term or a new vote must be durable. A Ready that only moves the commit index
 * need not be: the commit index is knowledge, synced with every batch of entries, and may go back
 * after a crash. `durable` is the hard state as last persisted.
 */
export function mustSync(rd: Ready, durable: HardState): boolean {
  return rd.entries.length > 0 || rd.snapshot !== undefined || (rd.hardState !== undefined && (rd.hardState.term !== durable.term || rd.hardState.vote !== durable.vote));
}

/**
 * How many of a Ready's committed entries (from the first) the storage already holds durably,
 * at the same index and term. Those may be applied before the Ready's own fsync; a leader counts
 * its own copy only after advance, so on a leader that is all of them. None past a snapshot.
 */
export function durableCommittedPrefix(rd: Ready, storage: RaftStorage): number {
  if (rd.snapshot !== undefined) return 0;
  let n = 0;
  for (const e of rd.committed) {
    if (e.index > storage.lastIndex() || storage.term(e.index) !== e.term) break;
    n++;
  }
  return n;
}

/**
 * Whether `m` may leave before the Ready that carries it is persisted: it acknowledges nothing of
 * this node's log and its term is durable. A leader's appends and heartbeats (thesis §10.2.1),
 * a follower's heartbeat answer (it carries only the term and the ReadIndex context), and
 * ReadIndex requests and answers qualify. Append answers (they acknowledge entries), votes and
 * everything else wait for the fsync. `durableTerm` is the term as last persisted.
 */
export function sendsBeforePersist(m: Message, durableTerm: Term): boolean {
  switch (m.type) {
    case 'AppendEntries':
    case 'Heartbeat':
    case 'HeartbeatResponse':
    case 'ReadIndex':
    case 'ReadIndexResponse':
      return m.term <= durableTerm;
    default:
      return false;
  }
}
