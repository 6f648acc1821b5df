import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const cli = path.resolve(import.meta.dirname, '../../node/cli.ts');
const run = (args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe('the eventraft command', () => {
  it('documents every setting with `eventraft node --help`', () => {
    const r = run(['node', '--help']);
    expect(r.status).toBe(0);
    for (const v of ['EVENTRAFT_NODE_ID', 'EVENTRAFT_INITIAL_MEMBERS', 'EVENTRAFT_JOIN', 'EVENTRAFT_DATA_DIR', 'EVENTRAFT_ADMIN_TOKEN']) expect(r.stdout).toContain(v);
  });

  it('exits 2 listing every configuration problem at once', () => {
    const r = run(['node'], { EVENTRAFT_NODE_ID: 'Not Valid', EVENTRAFT_TICK_MS: 'fast', EVENTRAFT_LOG_LEVEL: 'chatty' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('invalid configuration');
    expect(r.stderr).toContain('EVENTRAFT_NODE_ID');
    expect(r.stderr).toContain('EVENTRAFT_TICK_MS');
    expect(r.stderr).toContain('EVENTRAFT_LOG_LEVEL');
  });

  it('checks smoke-test arguments, listing every problem, exit 2', () => {
    const r = run(['smoke-test', '--url', 'ftp://x', '--timeout-ms', '0']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--url ftp://x: not an http(s) URL');
    expect(r.stderr).toContain('--timeout-ms must be a positive integer');
    expect(run(['smoke-test']).stderr).toContain('--url is required');
    expect(run(['smoke-test', '--help']).stdout).toContain('Usage: eventraft smoke-test');
  });

  it('fails the smoke test with exit 1 and a JSON report when no node answers', () => {
    const r = run(['smoke-test', '--url', 'http://127.0.0.1:9', '--timeout-ms', '1500']);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ ok: false });
  });

  it('rejects unknown commands with exit 2', () => {
    const r = run(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown command');
  });
});
