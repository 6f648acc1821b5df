/**
 * Failpoints: named places between the operator's side effects where a test can have it die as
 * `kill -9` would (EVENTRAFT_OPERATOR_FAILPOINTS=name[,name...]), to prove that a restart from
 * any of them converges without losing quorum. Unset in production: every hit is then a no-op.
 */
export class Failpoints {
  private readonly armed: ReadonlySet<string>;

  constructor(spec: string | undefined) {
    this.armed = new Set((spec ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''));
  }

  hit(name: string): void {
    if (!this.armed.has(name)) return;
    // Written synchronously so the test sees which point fired before the process is gone.
    process.stderr.write(`failpoint ${name}: SIGKILL\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}

/** Every failpoint the reconciler has, for tests that try them all. */
export const FAILPOINTS = ['after-create-statefulset', 'after-incarnation-bump', 'after-add-learner', 'before-scale-statefulset', 'after-promote', 'after-transfer-leadership', 'after-remove-member', 'before-replace-pod', 'after-bootstrap-switch'] as const;
