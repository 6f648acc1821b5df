import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../../node/config.ts';

const base = {
  EVENTRAFT_NODE_ID: 'eventraft-0',
  EVENTRAFT_INITIAL_MEMBERS: 'eventraft-0=127.0.0.1:7001/127.0.0.1:8081,eventraft-1=127.0.0.1:7002,eventraft-2=127.0.0.1:7003',
};

describe('node config', () => {
  it('parses environment variables into a typed, frozen config with defaults', () => {
    const r = parseConfig({ ...base, EVENTRAFT_TICK_MS: '50', EVENTRAFT_JOIN: 'false' });
    if (!r.ok) throw new Error(r.problems.join('\n'));
    expect(r.config.nodeId).toBe('eventraft-0');
    expect(r.config.tickMs).toBe(50);
    expect(r.config.electionTicks).toBe(10);
    expect(r.config.peerListen).toEqual({ host: '127.0.0.1', port: 7000 });
    expect(r.config.dataDir).toBe('./data/eventraft-0');
    expect(r.config.initialMembers).toEqual({
      'eventraft-0': '127.0.0.1:7001/127.0.0.1:8081',
      'eventraft-1': '127.0.0.1:7002',
      'eventraft-2': '127.0.0.1:7003',
    });
    expect(r.config.keptAggregates).toBe(10_000);
    expect(Object.isFrozen(r.config)).toBe(true);
  });

  it('reports every problem at once, types and relationships alike', () => {
    const r = parseConfig({
      EVENTRAFT_NODE_ID: 'Bad_Id',
      EVENTRAFT_TICK_MS: 'soon',
      EVENTRAFT_PEER_LISTEN: 'nowhere',
      EVENTRAFT_LOG_LEVEL: 'loud',
      EVENTRAFT_KEPT_AGGREGATES: '-1',
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.some((p) => p.startsWith('nodeId (EVENTRAFT_NODE_ID)'))).toBe(true);
    expect(r.problems.some((p) => p.startsWith('tickMs (EVENTRAFT_TICK_MS)'))).toBe(true);
    expect(r.problems.some((p) => p.startsWith('peerListen (EVENTRAFT_PEER_LISTEN)'))).toBe(true);
    expect(r.problems.some((p) => p.startsWith('logLevel (EVENTRAFT_LOG_LEVEL)'))).toBe(true);
    expect(r.problems.some((p) => p.startsWith('keptAggregates (EVENTRAFT_KEPT_AGGREGATES)'))).toBe(true);
    expect(r.problems.length).toBeGreaterThanOrEqual(5);
  });

  it('checks relationships: heartbeat < election, members include this node, odd member count, join excludes members', () => {
    const problems = (env: Record<string, string>): string[] => {
      const r = parseConfig(env);
      return r.ok ? [] : [...r.problems];
    };
    expect(problems({ ...base, EVENTRAFT_HEARTBEAT_TICKS: '10', EVENTRAFT_ELECTION_TICKS: '10' })).toEqual(['heartbeatTicks (10) must be less than electionTicks (10)']);
    expect(problems({ ...base, EVENTRAFT_NODE_ID: 'eventraft-9' })).toEqual(['initialMembers must include this node (eventraft-9)']);
    expect(problems({ EVENTRAFT_NODE_ID: 'a', EVENTRAFT_INITIAL_MEMBERS: 'a=h:1,b=h:2' })[0]).toMatch(/odd number/);
    expect(problems({ ...base, EVENTRAFT_JOIN: 'true' })).toEqual(['initialMembers and join are exclusive: a joining node is added by the leader']);
    expect(problems({ EVENTRAFT_NODE_ID: 'a' })).toEqual(['initialMembers (EVENTRAFT_INITIAL_MEMBERS): required unless join=true']);
    expect(problems({ ...base, EVENTRAFT_PEER_LISTEN: '0.0.0.0:7000' })).toEqual(['peerAdvertise (EVENTRAFT_PEER_ADVERTISE): required when listening on a wildcard address']);
    expect(problems({ EVENTRAFT_NODE_ID: 'a', EVENTRAFT_INITIAL_MEMBERS: 'a=h:1,b=nope' })).toEqual(['initialMembers: "b=nope" is not id=peerHost:port[/httpHost:port]']);
  });

  it('keeps a listed member incarnation in its own data directory, so a re-added member starts empty', () => {
    const dataDir = (env: Record<string, string>): string => {
      const r = parseConfig({ ...base, EVENTRAFT_DATA_DIR: '/var/lib/eventraft/data', ...env });
      if (!r.ok) throw new Error(r.problems.join('; '));
      return r.config.dataDir;
    };
    expect(dataDir({})).toBe('/var/lib/eventraft/data');
    expect(dataDir({ EVENTRAFT_MEMBER_INCARNATIONS: 'eventraft-1=2' })).toBe('/var/lib/eventraft/data');
    expect(dataDir({ EVENTRAFT_MEMBER_INCARNATIONS: 'eventraft-1=2, eventraft-0=3' })).toBe('/var/lib/eventraft/data/incarnation-3');
    const bad = parseConfig({ ...base, EVENTRAFT_MEMBER_INCARNATIONS: 'eventraft-0=0,x' });
    expect(bad.ok ? [] : bad.problems).toEqual([
      'memberIncarnations (EVENTRAFT_MEMBER_INCARNATIONS): "eventraft-0=0" is not id=n with n >= 1',
      'memberIncarnations (EVENTRAFT_MEMBER_INCARNATIONS): "x" is not id=n with n >= 1',
    ]);
  });

  it('configures no cache without a Redis URL, and the cache with its defaults and a password file', () => {
    const none = parseConfig(base);
    if (!none.ok) throw new Error(none.problems.join('\n'));
    expect(none.config.redis).toBeUndefined();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'eventraft-config-'));
    try {
      writeFileSync(path.join(dir, 'pw'), 's3cret\n');
      const r = parseConfig({ ...base, EVENTRAFT_REDIS_URL: 'redis://cache:6379', EVENTRAFT_REDIS_PASSWORD_FILE: path.join(dir, 'pw'), EVENTRAFT_CACHE_TIMEOUT_MS: '30' });
      if (!r.ok) throw new Error(r.problems.join('\n'));
      expect(r.config.redis).toEqual({
        url: 'redis://cache:6379',
        username: undefined,
        password: 's3cret',
        caFile: undefined,
        ttlMs: 300_000,
        ttlJitter: 0.1,
        negativeTtlMs: 2_000,
        commandTimeoutMs: 30,
        breakerFailureThreshold: 5,
        breakerOpenMs: 1_000,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports every cache setting problem at once', () => {
    const r = parseConfig({ ...base, EVENTRAFT_REDIS_URL: 'redis://u:pw@cache:6379', EVENTRAFT_REDIS_CA_FILE: '/ca.pem', EVENTRAFT_CACHE_TTL_JITTER: '2', EVENTRAFT_CACHE_TIMEOUT_MS: '0' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.some((p) => p.startsWith('cacheTtlJitter (EVENTRAFT_CACHE_TTL_JITTER)'))).toBe(true);
    expect(r.problems.some((p) => p.startsWith('cacheTimeoutMs (EVENTRAFT_CACHE_TIMEOUT_MS)'))).toBe(true);
    const relations = parseConfig({ ...base, EVENTRAFT_REDIS_URL: 'redis://u:pw@cache:6379', EVENTRAFT_REDIS_CA_FILE: '/ca.pem' });
    expect(relations.ok ? [] : relations.problems).toEqual([
      'redisUrl (EVENTRAFT_REDIS_URL): put the password in EVENTRAFT_REDIS_PASSWORD_FILE, not in the URL (URLs get logged)',
      'redisCaFile (EVENTRAFT_REDIS_CA_FILE) needs a rediss:// URL',
    ]);
    const orphan = parseConfig({ ...base, EVENTRAFT_REDIS_PASSWORD: 'x' });
    expect(orphan.ok ? [] : orphan.problems).toEqual(['redisPassword (EVENTRAFT_REDIS_PASSWORD) is set but EVENTRAFT_REDIS_URL is not']);
  });

  it('reads a JSON config file, overridden by the environment, and reports an unreadable one', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'eventraft-config-'));
    const file = path.join(dir, 'eventraft.json');
    writeFileSync(file, JSON.stringify({ nodeId: 'from-file', tickMs: 70, initialMembers: { 'from-file': '127.0.0.1:7001', b: '127.0.0.1:7002', c: '127.0.0.1:7003' } }));
    try {
      const r = parseConfig({ EVENTRAFT_CONFIG: file, EVENTRAFT_TICK_MS: '40' });
      if (!r.ok) throw new Error(r.problems.join('\n'));
      expect(r.config.nodeId).toBe('from-file');
      expect(r.config.tickMs).toBe(40); // the environment wins
      expect(Object.keys(r.config.initialMembers ?? {})).toEqual(['from-file', 'b', 'c']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const bad = parseConfig({ ...base, EVENTRAFT_CONFIG: '/nonexistent/eventraft.json' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.problems[0]).toMatch(/eventraft\.json/);
  });
});
