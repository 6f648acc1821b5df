/**
 * A real Prometheus (Debian's package) for tests: its own process on a free loopback port, its
 * own TSDB in a temp dir, scraping the targets it is given. Used to run the dashboards' queries
 * and the alert rules against what real nodes export.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../integration/support/node-cluster.ts';

export interface ScrapeJob {
  readonly job: string;
  /** host:port targets, each with the labels a Kubernetes scrape config would add. */
  readonly targets: readonly { readonly address: string; readonly labels: Readonly<Record<string, string>> }[];
}

export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export class Prometheus {
  readonly url: string;
  private readonly child: ChildProcess;
  private readonly dir: string;
  private readonly output: string[] = [];

  private constructor(url: string, child: ChildProcess, dir: string) {
    this.url = url;
    this.child = child;
    this.dir = dir;
    const keep = (chunk: Buffer): void => {
      this.output.push(chunk.toString());
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  static async start(options: { jobs: readonly ScrapeJob[]; ruleFiles?: readonly string[]; scrapeIntervalSeconds?: number }): Promise<Prometheus> {
    const dir = await mkdtemp(path.join(tmpdir(), 'eventraft-prometheus-'));
    const interval = `${String(options.scrapeIntervalSeconds ?? 1)}s`;
    const config = {
      global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
      rule_files: options.ruleFiles ?? [],
      scrape_configs: options.jobs.map((j) => ({ job_name: j.job, static_configs: j.targets.map((t) => ({ targets: [t.address], labels: t.labels })) })),
    };
    await writeFile(path.join(dir, 'prometheus.yml'), stringify(config));
    const port = await freePort('127.0.0.1');
    const child = spawn('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${String(port)}`, '--log.level=warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const prometheus = new Prometheus(`http://127.0.0.1:${String(port)}`, child, dir);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${String(child.exitCode)}: ${prometheus.logs()}`);
      const ready = await fetch(`${prometheus.url}/-/ready`).then((r) => r.ok).catch(() => false);
      if (ready) return prometheus;
      if (Date.now() > deadline) throw new Error(`prometheus not ready after 30 s: ${prometheus.logs()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  logs(): string {
    return this.output.join('').slice(-4_000);
  }

  private async api<T>(pathAndQuery: string): Promise<T> {
    const res = await fetch(`${this.url}/api/v1/${pathAndQuery}`);
    const body = (await res.json()) as { status: string; data?: T; error?: string };
    if (body.status !== 'success' || body.data === undefined) throw new Error(`prometheus ${pathAndQuery}: ${body.error ?? res.statusText}`);
    return body.data;
  }

  /** An instant query; throws with Prometheus's error for a query it cannot parse or run. */
  async query(expr: string): Promise<Sample[]> {
    const data = await this.api<{ resultType: string; result: Sample[] }>(`query?query=${encodeURIComponent(expr)}`);
    return data.result;
  }

  /** label_values(<selector>, <label>) as Grafana runs it. */
  async labelValues(label: string, match: string): Promise<string[]> {
    return this.api<string[]>(`label/${encodeURIComponent(label)}/values?match[]=${encodeURIComponent(match)}`);
  }

  async targets(): Promise<{ labels: Record<string, string>; health: string; lastError: string }[]> {
    return (await this.api<{ activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] }>('targets')).activeTargets;
  }

  async rules(): Promise<{ name: string; health: string; lastError?: string; type: string }[]> {
    const data = await this.api<{ groups: { rules: { name: string; health: string; lastError?: string; type: string }[] }[] }>('rules');
    return data.groups.flatMap((g) => g.rules);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
