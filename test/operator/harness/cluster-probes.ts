/**
 * What the operator's end-to-end tests watch while they act on a cluster: a quorum watch (whenever
 * a leader is visible, a majority of its voters answer), a writer appending with client-assigned
 * event ids (so retries are idempotent), and the final check that every acknowledged append is in
 * the log exactly once.
 */
import { randomUUID } from 'node:crypto';
import { EventraftClient } from '../../../node/client/index.ts';
import { quorum } from '../../../operator/membership/plan.ts';
import type { NodeClusterView } from '../../../operator/reconcile/node-admin.ts';

export interface RaftClusterObject {
  metadata: { name: string; namespace: string; uid: string; generation: number; finalizers?: string[]; deletionTimestamp?: string };
  spec: Record<string, unknown>;
  status?: {
    phase?: string;
    replicas?: number;
    readyReplicas?: number;
    leader?: string;
    term?: number;
    commitIndex?: number;
    observedGeneration?: number;
    members?: { name: string; role: string; healthy: boolean; lag?: number }[];
    conditions?: { type: string; status: string; reason: string; message: string; observedGeneration?: number }[];
  };
}

/** Polls until `check` returns a value (not undefined), or fails with what it was waiting for. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000, describeLast?: () => Promise<string> | string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}${describeLast === undefined ? '' : `\n${await describeLast()}`}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** What GET /v1/cluster answers. */
export type NodeView = NodeClusterView;

/** Every node's /v1/cluster that answers within a second, by node id. */
export async function nodeViews(urls: readonly string[]): Promise<Map<string, NodeView>> {
  const all = await Promise.all(
    urls.map(async (url) => {
      try {
        const res = await fetch(`${url}/v1/cluster`, { signal: AbortSignal.timeout(1_000) });
        return res.ok ? ((await res.json()) as NodeView) : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  return new Map(all.filter((v) => v !== undefined).map((v) => [v.id, v]));
}

export class QuorumWatch {
  samples = 0;
  readonly violations: string[] = [];
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(urls: readonly string[]) {
    this.loop = this.run(urls);
  }

  private isStopped(): boolean {
    return this.stopped;
  }

  private async run(urls: readonly string[]): Promise<void> {
    while (!this.isStopped()) {
      const nodes = await nodeViews(urls);
      if (this.isStopped()) break;
      const leader = [...nodes.values()].filter((v) => v.role === 'leader').sort((a, b) => b.term - a.term)[0];
      if (leader !== undefined) {
        this.samples++;
        const voters = leader.members.filter((m) => m.role === 'voter');
        const answering = voters.filter((m) => nodes.has(m.id)).length;
        if (answering < quorum(voters.length)) this.violations.push(`${new Date().toISOString()}: ${String(answering)} of ${String(voters.length)} voters answering (leader ${leader.id})`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

export class Writer {
  readonly acknowledged = new Set<string>();
  /** Appends whose outcome is unknown (retries exhausted): maybe stored, never counted as lost. */
  unacknowledged = 0;
  longestStallMs = 0;
  readonly client: EventraftClient;
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(urls: readonly string[]) {
    this.client = new EventraftClient({ endpoints: urls, timeoutMs: 3_000, retry: { maxAttempts: 12, baseDelayMs: 50, maxDelayMs: 1_000 } });
    this.loop = this.run();
  }

  private isStopped(): boolean {
    return this.stopped;
  }

  private async run(): Promise<void> {
    let lastAck = Date.now();
    for (let n = 0; !this.isStopped(); n++) {
      const id = randomUUID();
      try {
        await this.client.appendToStream(`e2e-${String(n % 10)}`, [{ id, type: 'Tick', data: { n } }]);
        this.acknowledged.add(id);
        this.longestStallMs = Math.max(this.longestStallMs, Date.now() - lastAck);
        lastAck = Date.now();
      } catch {
        this.unacknowledged++;
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** Stops after the append in flight, then reads the whole log: acknowledged ids missing, ids stored twice. */
  async stopAndCheck(): Promise<{ lost: number; duplicated: number }> {
    await this.stop();
    const seen = new Map<string, number>();
    for (let from = 0; ; ) {
      const page = await this.client.readAll({ fromPosition: from, limit: 1_000, consistency: 'strong' });
      for (const e of page.events) seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
      if (page.events.length === 0) break;
      from = (page.events.at(-1)?.position ?? from) + 1;
    }
    let lost = 0;
    for (const id of this.acknowledged) if (!seen.has(id)) lost++;
    return { lost, duplicated: [...seen.values()].filter((n) => n > 1).length };
  }
}
