import { describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
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

  it('a node whose HTTP port is taken exits 1 and says why, instead of running without its API', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    const peerPort = port === 65_535 ? port - 1 : port + 1;
    try {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'eventraft-cli-'));
      const child = spawn(process.execPath, [cli, 'node'], {
        env: { PATH: process.env.PATH ?? '', EVENTRAFT_NODE_ID: 'n0', EVENTRAFT_INITIAL_MEMBERS: `n0=127.0.0.1:${String(peerPort)}/127.0.0.1:${String(port)}`, EVENTRAFT_PEER_LISTEN: `127.0.0.1:${String(peerPort)}`, EVENTRAFT_HTTP_LISTEN: `127.0.0.1:${String(port)}`, EVENTRAFT_DATA_DIR: dataDir },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      // A node that carried on without its HTTP server would never exit: stop it, and fail.
      const stop = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      clearTimeout(stop);
      rmSync(dataDir, { recursive: true, force: true });
      expect(code).toBe(1);
      expect(output).toContain(`EADDRINUSE: address already in use 127.0.0.1:${String(port)}`);
      expect(output).not.toContain('"node started"');
    } finally {
      taken.close();
    }
  }, 30_000);

  it('rejects unknown commands with exit 2', () => {
    const r = run(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown command');
  });
});
