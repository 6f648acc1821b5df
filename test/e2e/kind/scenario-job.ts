/**
 * The end-to-end scenario on real Kubernetes, run by the kind e2e (run.sh) as a Job inside the
 * cluster, in the e2e image (Dockerfile target `e2e`). Prints each step and a final JSON line;
 * exits 1 if anything failed.
 *
 * Environment: E2E_NAMESPACE (default: the pod's namespace), E2E_STEP_TIMEOUT_MS (default 300000).
 */
import { readFileSync } from 'node:fs';
import { runScenario, scenarioPassed } from '../scenario.ts';
import { kubePlatform } from './kube-platform.ts';

const namespace = process.env.E2E_NAMESPACE ?? readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
const stepTimeoutMs = Number(process.env.E2E_STEP_TIMEOUT_MS ?? 300_000);
// Small enough for a CI runner, and the image kind loaded (never pulled).
const baseSpec = {
  imagePullPolicy: 'Never',
  storage: { size: '1Gi' },
  resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
};

const started = Date.now();
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
try {
  const report = await runScenario(kubePlatform({ namespace, baseSpec, stepTimeoutMs }), { name: 'orders', log: say });
  const ok = scenarioPassed(report);
  for (const s of report.steps) say(`  ${s.step.padEnd(48)} ${s.seconds.toFixed(1)} s`);
  for (const v of [...report.quorumViolations, ...report.statusMismatches]) say(`  PROBLEM: ${v}`);
  say(JSON.stringify({ ok, seconds: Math.round((Date.now() - started) / 1000), ...report }));
  process.exit(ok ? 0 : 1);
} catch (e) {
  say(`scenario failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
}
