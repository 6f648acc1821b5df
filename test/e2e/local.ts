/**
 * `npm run e2e:local`: the operator's end-to-end scenario on this machine, no Kubernetes needed
 * (see local-scenario.ts). Prints each step and a final JSON line; exits 1 if anything failed.
 */
import { runLocalScenario } from './local-scenario.ts';
import { scenarioPassed } from './scenario.ts';

const started = Date.now();
const report = await runLocalScenario({ networkPrefix: '127.1.200', log: (line) => process.stdout.write(`${line}\n`) });
const ok = scenarioPassed(report);
for (const s of report.steps) process.stdout.write(`  ${s.step.padEnd(42)} ${s.seconds.toFixed(1)} s\n`);
for (const v of [...report.quorumViolations, ...report.statusMismatches]) process.stdout.write(`  PROBLEM: ${v}\n`);
process.stdout.write(`${JSON.stringify({ ok, seconds: Math.round((Date.now() - started) / 1000), ...report })}\n`);
process.exit(ok ? 0 : 1);
