import { afterAll, afterEach } from '@jest/globals';
import { TempDirs } from '../../support/temp-dir.ts';
import { NodeCluster } from './node-cluster.ts';

/**
 * One real cluster per test: `start()` creates and starts it, it is killed after the test, and
 * its nodes' logs are printed when the test did not reach `passed()`.
 */
export function clusterPerTest(): {
  create(hostBase: number, env?: Record<string, string>): Promise<NodeCluster>;
  start(hostBase: number, env?: Record<string, string>): Promise<NodeCluster>;
  passed(): void;
} {
  const dirs = new TempDirs();
  let cluster: NodeCluster | undefined;
  let ok = false;
  afterEach(async () => {
    if (cluster !== undefined && !ok) process.stderr.write(cluster.dumpLogs());
    await cluster?.stopAll('SIGKILL');
    cluster = undefined;
    ok = false;
  }, 30_000);
  afterAll(() => dirs.cleanup());
  const create = async (hostBase: number, env: Record<string, string> = {}): Promise<NodeCluster> => {
    cluster = await NodeCluster.create(await dirs.make(), 3, hostBase, env);
    return cluster;
  };
  return {
    /** Plans the nodes without starting them. */
    create,
    async start(hostBase, env = {}) {
      const c = await create(hostBase, env);
      c.startAll();
      return c;
    },
    passed() {
      ok = true;
    },
  };
}
