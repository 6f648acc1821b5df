import { expect, it, jest } from '@jest/globals';
import { runLocalScenario } from '../e2e/local-scenario.ts';

/** The same scenario as `npm run e2e:local`, in CI: see test/e2e/local-scenario.ts. */

jest.setTimeout(600_000);

it('creates, scales 3 -> 5 -> 3, rolls a config change, survives kill -9 of the leader and deletes, with a client writing all along', async () => {
  const report = await runLocalScenario({ networkPrefix: '127.1.2' });
  expect(report.statusMismatches).toEqual([]);
  expect(report.quorumViolations).toEqual([]);
  expect(report.quorumSamples).toBeGreaterThan(10);
  expect(report.acknowledged).toBeGreaterThan(0);
  expect(report.lost).toBe(0);
  expect(report.duplicated).toBe(0);
  expect(report.steps.map((s) => s.step)).toEqual(['create 3 members', 'scale to 5', 'scale to 3', 'change the node config (rolling update)', 'kill -9 the leader', 'delete']);
});
