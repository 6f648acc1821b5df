import type { V1Service } from '@kubernetes/client-node';
import type { ClusterRef, Component } from './cluster-ref.ts';
import { HTTP_PORT, names, ownedMetadata, PEER_PORT, REDIS_PORT, selectorLabels } from './cluster-ref.ts';

/**
 * The headless Service that gives every node pod a stable DNS name for peers. It publishes pods
 * that are not ready: a node must reach its peers to become ready (to elect a leader, to catch
 * up), so readiness cannot gate peer traffic.
 */
export function peerService(c: ClusterRef): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMetadata(c, names.peerService(c), 'node'),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: selectorLabels(c, 'node'),
      ports: [
        { name: 'peer', port: PEER_PORT, targetPort: 'peer', protocol: 'TCP' },
        { name: 'http', port: HTTP_PORT, targetPort: 'http', protocol: 'TCP' },
      ],
    },
  };
}

/** The Service clients use: ready nodes only (any node serves reads and forwards writes). */
export function clientService(c: ClusterRef): V1Service {
  return clusterIpService(c, names.clientService(c), 'node', 'http', HTTP_PORT);
}

/** The managed Redis's Service (redis.mode managed). */
export function redisService(c: ClusterRef): V1Service {
  return clusterIpService(c, names.redis(c), 'redis', 'redis', REDIS_PORT);
}

function clusterIpService(c: ClusterRef, name: string, component: Component, portName: string, port: number): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMetadata(c, name, component),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(c, component),
      ports: [{ name: portName, port, targetPort: portName, protocol: 'TCP' }],
    },
  };
}
