import { describe, expect, it } from '@jest/globals';
import { parseOperatorConfig } from '../../../operator/config.ts';

describe('parseOperatorConfig', () => {
  it('applies the documented defaults', () => {
    const r = parseOperatorConfig({ POD_NAMESPACE: 'ops', POD_NAME: 'eventraft-operator-abc' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config).toMatchObject({ leaseNamespace: 'ops', identity: 'eventraft-operator-abc', leaseName: 'eventraft-operator', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, httpListen: { host: '0.0.0.0', port: 8081 }, podNetworkName: 'dns', workers: 2, watchNamespace: undefined });
  });

  it('reports every problem at once', () => {
    const r = parseOperatorConfig({ EVENTRAFT_OPERATOR_WORKERS: '0', EVENTRAFT_OPERATOR_POD_NETWORK: 'overlay', EVENTRAFT_OPERATOR_WATCH_NAMESPACE: 'Not_A_Namespace' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toHaveLength(3);
    expect(r.problems.join('\n')).toMatch(/EVENTRAFT_OPERATOR_WORKERS/);
    expect(r.problems.join('\n')).toMatch(/EVENTRAFT_OPERATOR_POD_NETWORK/);
    expect(r.problems.join('\n')).toMatch(/EVENTRAFT_OPERATOR_WATCH_NAMESPACE/);
  });

  it('refuses lease timings that could let two operators act at once', () => {
    const r = parseOperatorConfig({ EVENTRAFT_OPERATOR_LEASE_DURATION_MS: '5000', EVENTRAFT_OPERATOR_RENEW_DEADLINE_MS: '6000' });
    expect(r).toEqual({ ok: false, problems: [expect.stringMatching(/renewDeadlineMs \(6000\) < leaseDurationMs \(5000\)/)] });
  });

  it('parses the loopback pod network of the local stand-in', () => {
    const r = parseOperatorConfig({ EVENTRAFT_OPERATOR_POD_NETWORK: 'loopback:127.1.9' });
    expect(r.ok && r.config.podNetwork.httpAddress({ name: 'x', namespace: 'y', uid: '', spec: {} as never }, 2)).toBe('127.1.9.3:8080');
  });
});
