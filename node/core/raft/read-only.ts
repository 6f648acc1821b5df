import type { LogIndex, NodeId } from './types.ts';

/** A ReadIndex request waiting for the leader to confirm it still leads (thesis §6.4 step 3). */
export interface PendingRead {
  /** Commit index when the request arrived: the read must see at least this. */
  readonly index: LogIndex;
  readonly requestId: string;
  /** Who asked: this node or a follower that forwarded the request. */
  readonly from: NodeId;
  /** Voters that answered a heartbeat sent after the request arrived. */
  readonly acks: Set<NodeId>;
}

/**
 * Pending ReadIndex requests in arrival order. A heartbeat carries the context of the newest
 * pending request; an ack for it also confirms every older request, because the heartbeat left
 * after all of them arrived.
 */
export class ReadOnlyQueue {
  private readonly byContext = new Map<string, PendingRead>();
  private queue: string[] = [];

  static context(from: NodeId, requestId: string): string {
    return `${from}|${requestId}`;
  }

  get size(): number {
    return this.queue.length;
  }

  /** Queues a request; undefined when the same request is already pending (a retry: the first answers it). */
  add(index: LogIndex, requestId: string, from: NodeId): string | undefined {
    const ctx = ReadOnlyQueue.context(from, requestId);
    if (this.byContext.has(ctx)) return undefined;
    this.byContext.set(ctx, { index, requestId, from, acks: new Set() });
    this.queue.push(ctx);
    return ctx;
  }

  /** Records an ack; returns the voters that confirmed `ctx` so far, or undefined if unknown. */
  recvAck(from: NodeId, ctx: string): ReadonlySet<NodeId> | undefined {
    const read = this.byContext.get(ctx);
    if (read === undefined) return undefined;
    read.acks.add(from);
    return read.acks;
  }

  /** Removes and returns every request up to and including `ctx`, oldest first. */
  release(ctx: string): PendingRead[] {
    const at = this.queue.indexOf(ctx);
    if (at < 0) return [];
    const released = this.queue.slice(0, at + 1).map((c) => this.byContext.get(c) as PendingRead);
    for (const c of this.queue.slice(0, at + 1)) this.byContext.delete(c);
    this.queue = this.queue.slice(at + 1);
    return released;
  }

  lastContext(): string {
    return this.queue.at(-1) ?? '';
  }

  /** Empties the queue (leadership lost) and returns what was pending. */
  drain(): PendingRead[] {
    const all = this.queue.map((c) => this.byContext.get(c) as PendingRead);
    this.byContext.clear();
    this.queue = [];
    return all;
  }
}
