import type { ClusterRef } from '../desired/index.ts';
import { HTTP_PORT, httpAddress, PEER_PORT, peerAddress } from '../desired/index.ts';

/**
 * How the operator reaches the pod of an ordinal, and what it tells Raft to dial: through the
 * headless Service's DNS in Kubernetes; on a loopback address per ordinal when the StatefulSet is
 * the local process-based stand-in (tests and `npm run e2e:local`), which runs every pod on this
 * machine with the same fixed ports, one 127.x.y.z address per pod, as pods have one IP each.
 */
export interface PodNetwork {
  /** host:port peers dial. */
  peerAddress(c: ClusterRef, ordinal: number): string;
  /** host:port of the node's HTTP API. */
  httpAddress(c: ClusterRef, ordinal: number): string;
}

export const clusterDns: PodNetwork = { peerAddress, httpAddress };

/** Ordinal k at `<prefix>.<k + 1>` (prefix: three octets in 127.0.0.0/8, e.g. 127.1.7). */
export function loopbackNetwork(prefix: string): PodNetwork {
  if (!/^127\.\d{1,3}\.\d{1,3}$/.test(prefix)) throw new Error(`loopback prefix must be 127.a.b, not ${prefix}`);
  const host = (ordinal: number): string => `${prefix}.${ordinal + 1}`;
  return {
    peerAddress: (_c, ordinal) => `${host(ordinal)}:${PEER_PORT}`,
    httpAddress: (_c, ordinal) => `${host(ordinal)}:${HTTP_PORT}`,
  };
}

/** The network named by OPERATOR_POD_NETWORK: `dns` (default) or `loopback:127.a.b`. */
export function parsePodNetwork(value: string | undefined): PodNetwork {
  if (value === undefined || value === 'dns') return clusterDns;
  if (value.startsWith('loopback:')) return loopbackNetwork(value.slice('loopback:'.length));
  throw new Error(`pod network must be dns or loopback:127.a.b, not ${value}`);
}
