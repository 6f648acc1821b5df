/**
 * A member's address as stored in the Raft configuration: `peerHost:peerPort` optionally followed
 * by `/httpHost:httpPort`, e.g. `eventraft-0.eventraft:7000/eventraft-0.eventraft:8080`.
 */
export interface MemberAddress {
  readonly peer: string;
  readonly http: string | undefined;
}

export function formatMemberAddress(peer: string, http?: string): string {
  return http === undefined ? peer : `${peer}/${http}`;
}

export function parseMemberAddress(address: string): MemberAddress {
  const slash = address.indexOf('/');
  if (slash < 0) return { peer: address, http: undefined };
  return { peer: address.slice(0, slash), http: address.slice(slash + 1) };
}
