export { CacheAside } from './cache-aside.ts';
export type { CachedKind, CachedRead, Versioned } from './cache-aside.ts';
export { CircuitBreaker, circuitStateValue } from './circuit-breaker.ts';
export type { CircuitState } from './circuit-breaker.ts';
export { Invalidator } from './invalidator.ts';
export { CacheUnavailableError, RedisCache } from './redis-cache.ts';
export type { CacheEntry, CacheSettings, RedisCacheOptions } from './redis-cache.ts';
export { SingleFlight } from './single-flight.ts';
export { AggregateCache } from './aggregate-cache.ts';
