import type { ConfChange, Entry, Membership, Message, Snapshot } from '../../core/raft/index.ts';

/**
 * Checks that a decoded frame really is a Raft Message before the core sees it. Explicit checks
 * rather than a schema: this runs for every message on the hot path. Returns the message, or a
 * description of the first problem found.
 */
export function validateMessage(v: unknown): Message | string {
  if (!isRecord(v)) return 'message is not an object';
  const { type } = v;
  if (typeof type !== 'string') return 'message.type is missing';
  if (!isNodeId(v.from) || !isNodeId(v.to)) return 'message.from/to must be non-empty strings';
  if (!isIndex(v.term)) return 'message.term must be a non-negative integer';
  switch (type) {
    case 'PreVote':
    case 'RequestVote':
      if (!isIndex(v.lastLogIndex) || !isIndex(v.lastLogTerm)) return `${type}: bad lastLogIndex/lastLogTerm`;
      if (type === 'RequestVote' && typeof v.leadershipTransfer !== 'boolean') return 'RequestVote: leadershipTransfer must be a boolean';
      break;
    case 'PreVoteResponse':
    case 'RequestVoteResponse':
      if (typeof v.reject !== 'boolean') return `${type}: reject must be a boolean`;
      break;
    case 'AppendEntries': {
      if (!isIndex(v.prevLogIndex) || !isIndex(v.prevLogTerm) || !isIndex(v.leaderCommit)) return 'AppendEntries: bad indexes';
      const entries = v.entries;
      if (!Array.isArray(entries)) return 'AppendEntries: entries must be an array';
      let expected = (v.prevLogIndex) + 1;
      for (const e of entries) {
        const problem = validateEntry(e);
        if (problem !== undefined) return `AppendEntries: ${problem}`;
        if ((e as Entry).index !== expected) return 'AppendEntries: entries must be contiguous after prevLogIndex';
        expected++;
      }
      break;
    }
    case 'AppendEntriesResponse':
      if (typeof v.reject !== 'boolean' || !isIndex(v.index) || !isIndex(v.rejectHint) || !isIndex(v.rejectHintTerm)) return 'AppendEntriesResponse: bad fields';
      break;
    case 'Heartbeat':
      if (!isIndex(v.leaderCommit) || typeof v.context !== 'string') return 'Heartbeat: bad fields';
      break;
    case 'HeartbeatResponse':
      if (typeof v.context !== 'string') return 'HeartbeatResponse: context must be a string';
      break;
    case 'InstallSnapshot': {
      const problem = validateSnapshot(v.snapshot);
      if (problem !== undefined) return `InstallSnapshot: ${problem}`;
      break;
    }
    case 'TimeoutNow':
      break;
    case 'Propose': {
      const data = v.data;
      if (!Array.isArray(data) || !data.every((d) => d instanceof Uint8Array)) return 'Propose: data must be an array of byte arrays';
      break;
    }
    case 'ReadIndex':
      if (typeof v.requestId !== 'string') return 'ReadIndex: requestId must be a string';
      break;
    case 'ReadIndexResponse':
      if (typeof v.requestId !== 'string' || !isIndex(v.index) || typeof v.reject !== 'boolean') return 'ReadIndexResponse: bad fields';
      break;
    case 'TransferLeadership':
      if (!isNodeId(v.transferee)) return 'TransferLeadership: transferee must be a node id';
      break;
    default:
      return `unknown message type ${JSON.stringify(type).slice(0, 40)}`;
  }
  return v as unknown as Message;
}

function validateEntry(e: unknown): string | undefined {
  if (!isRecord(e)) return 'entry is not an object';
  if (!isIndex(e.term) || !isIndex(e.index) || e.index === 0) return 'entry term/index invalid';
  if (e.type === 'Normal') return e.data instanceof Uint8Array ? undefined : 'entry data must be bytes';
  if (e.type === 'ConfChange') return validateConfChange(e.change);
  return 'entry type must be Normal or ConfChange';
}

function validateConfChange(c: unknown): string | undefined {
  if (!isRecord(c)) return 'change is not an object';
  switch (c.type) {
    case 'AddLearner':
      return isNodeId(c.nodeId) && typeof c.address === 'string' ? undefined : 'AddLearner: bad fields';
    case 'PromoteLearner':
    case 'RemoveNode':
      return isNodeId(c.nodeId) ? undefined : `${c.type}: bad nodeId`;
    case 'Bootstrap':
      return validateMembership(c.membership);
    default:
      return 'unknown configuration change';
  }
}

function validateMembership(m: unknown): string | undefined {
  if (!isRecord(m)) return 'membership is not an object';
  const ids = (x: unknown): boolean => Array.isArray(x) && x.every(isNodeId);
  if (!ids(m.voters) || !ids(m.learners)) return 'membership voters/learners must be node id lists';
  const addresses = m.addresses;
  if (!isRecord(addresses) || !Object.values(addresses).every((a) => typeof a === 'string')) return 'membership addresses must map ids to strings';
  return undefined;
}

function validateSnapshot(s: unknown): string | undefined {
  if (!isRecord(s) || !isRecord(s.metadata)) return 'snapshot metadata missing';
  const meta = s.metadata;
  if (!isIndex(meta.index) || !isIndex(meta.term)) return 'snapshot index/term invalid';
  const problem = validateMembership(meta.membership);
  if (problem !== undefined) return problem;
  return s.data instanceof Uint8Array ? undefined : 'snapshot data must be bytes';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isNodeId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 253;
}

export type { ConfChange, Membership, Snapshot };
