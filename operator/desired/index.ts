export { HTTP_PORT, httpAddress, names, ownedMetadata, PEER_PORT, peerAddress, REDIS_PORT, selectorLabels } from './cluster-ref.ts';
export type { ClusterRef, Component } from './cluster-ref.ts';
export { nodeConfig, REDIS_PASSWORD_FILE } from './config-map.ts';
export { podDisruptionBudget } from './pod-disruption-budget.ts';
export { clientService, peerService, redisService } from './services.ts';
export { ADMIN_TOKEN_FILE, CONFIG_HASH_ANNOTATION, configHash, DATA_MOUNT, NODE_UID, statefulSet } from './stateful-set.ts';
export type { StatefulSetInput } from './stateful-set.ts';
export { redisDeployment } from './redis-deployment.ts';
