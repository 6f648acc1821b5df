import type { ConfChange, LogIndex, Membership, NodeId } from './types.ts';

export const emptyMembership: Membership = Object.freeze({ voters: [], learners: [], addresses: {} });

export function isVoter(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id);
}

export function isLearner(m: Membership, id: NodeId): boolean {
  return m.learners.includes(id);
}

export function isMember(m: Membership, id: NodeId): boolean {
  return isVoter(m, id) || isLearner(m, id);
}

/** Every member, voters first. */
export function members(m: Membership): NodeId[] {
  return [...m.voters, ...m.learners];
}

/** Votes needed to win an election or commit an entry: a majority of voters (§5.2). */
export function quorumSize(m: Membership): number {
  return Math.floor(m.voters.length / 2) + 1;
}

/** Builds a normalised membership: sorted, de-duplicated, learners disjoint from voters. */
export function makeMembership(voters: readonly NodeId[], learners: readonly NodeId[] = [], addresses: Readonly<Record<string, string>> = {}): Membership {
  const v = [...new Set(voters)].sort();
  const l = [...new Set(learners)].filter((id) => !v.includes(id)).sort();
  const a: Record<string, string> = {};
  for (const id of [...v, ...l]) {
    const address = addresses[id];
    if (address !== undefined) a[id] = address;
  }
  return Object.freeze({ voters: Object.freeze(v), learners: Object.freeze(l), addresses: Object.freeze(a) });
}

export type ConfChangeOutcome = { readonly ok: true; readonly membership: Membership } | { readonly ok: false; readonly detail: string };

/**
 * Applies one single-server change (thesis §4.1). Each accepted change alters the voter set by at
 * most one member, which is what keeps the majorities of consecutive configurations overlapping.
 */
export function applyConfChange(m: Membership, change: ConfChange): ConfChangeOutcome {
  switch (change.type) {
    case 'AddLearner':
      if (change.nodeId === '') return { ok: false, detail: 'node id must not be empty' };
      if (isMember(m, change.nodeId)) return { ok: false, detail: `${change.nodeId} is already a member` };
      return { ok: true, membership: makeMembership(m.voters, [...m.learners, change.nodeId], { ...m.addresses, [change.nodeId]: change.address }) };
    case 'PromoteLearner':
      if (!isLearner(m, change.nodeId)) return { ok: false, detail: `${change.nodeId} is not a learner` };
      return { ok: true, membership: makeMembership([...m.voters, change.nodeId], m.learners.filter((id) => id !== change.nodeId), m.addresses) };
    case 'RemoveNode':
      if (!isMember(m, change.nodeId)) return { ok: false, detail: `${change.nodeId} is not a member` };
      if (m.voters.length === 1 && m.voters[0] === change.nodeId) return { ok: false, detail: 'cannot remove the last voter' };
      return {
        ok: true,
        membership: makeMembership(
          m.voters.filter((id) => id !== change.nodeId),
          m.learners.filter((id) => id !== change.nodeId),
          m.addresses,
        ),
      };
    case 'Bootstrap':
      if (m.voters.length > 0 || m.learners.length > 0) return { ok: false, detail: 'bootstrap on a non-empty membership' };
      if (change.membership.voters.length === 0) return { ok: false, detail: 'bootstrap needs at least one voter' };
      return { ok: true, membership: makeMembership(change.membership.voters, change.membership.learners, change.membership.addresses) };
  }
}

/**
 * The largest index replicated on a majority of voters, given each voter's match index (§5.3).
 * Voters with no recorded match count as 0.
 */
export function quorumMatchIndex(m: Membership, matchOf: (id: NodeId) => LogIndex): LogIndex {
  if (m.voters.length === 0) return 0 as LogIndex;
  const matches = m.voters.map(matchOf).sort((a, b) => b - a);
  return matches[quorumSize(m) - 1] as LogIndex;
}

export type VoteResult = 'Won' | 'Lost' | 'Pending';

/** Tallies an election among voters; votes from non-voters are ignored (learners never vote). */
export function voteResult(m: Membership, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const id of m.voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = quorumSize(m);
  if (granted >= q) return 'Won';
  if (m.voters.length - rejected < q) return 'Lost';
  return 'Pending';
}
