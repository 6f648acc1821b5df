import { concatBytes } from '../bytes.ts';
import type { ReplicatedStateMachine, StateSnapshot } from '../state-machine.ts';
import type { LogIndex } from '../raft/index.ts';

/**
 * The node's demo state machine until the event store replaces it: a string key-value map with
 * per-key revisions (the log index that last wrote the key). Pure and deterministic.
 */
export type KvCommand = { readonly op: 'put'; readonly key: string; readonly value: string } | { readonly op: 'delete'; readonly key: string };

export type KvResult =
  | { readonly ok: true; readonly revision: number; readonly previous: string | null }
  | { readonly ok: false; readonly error: 'InvalidCommand'; readonly detail: string };

export interface KvEntry {
  readonly value: string;
  readonly revision: number;
}

interface KvSnapshot {
  readonly applied: number;
  readonly data: [string, KvEntry][];
  readonly requests: [string, KvResult][];
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class KvStateMachine implements ReplicatedStateMachine<KvResult> {
  private data = new Map<string, KvEntry>();
  /** Results of recent requests by id, oldest first, for idempotent retries. */
  private requests = new Map<string, KvResult>();
  private applied = 0;
  private readonly rememberRequests: number;

  /** `rememberRequests`: how many request ids are remembered for de-duplication (FIFO). */
  constructor(rememberRequests = 100_000) {
    this.rememberRequests = rememberRequests;
  }

  get appliedIndex(): LogIndex {
    return this.applied as LogIndex;
  }

  get(key: string): KvEntry | undefined {
    return this.data.get(key);
  }

  get size(): number {
    return this.data.size;
  }

  apply(index: LogIndex, requestId: string, command: Uint8Array): KvResult {
    this.advanceTo(index);
    const seen = this.requests.get(requestId);
    if (seen !== undefined) return seen;
    const result = this.execute(index, command);
    this.remember(requestId, result);
    return result;
  }

  skip(index: LogIndex): void {
    this.advanceTo(index);
  }

  // In memory: every apply is visible at once, and durability comes from the Raft log.
  beginBatch(): void {
    // Nothing to open.
  }

  commitBatch(): void {
    // Nothing to write.
  }

  snapshot(): StateSnapshot {
    // Entries are immutable and replaced on write, so copying the pairs freezes the state.
    const applied = this.applied;
    const data = [...this.data];
    const requests = [...this.requests];
    return {
      index: applied as LogIndex,
      serialize: async (pause) => {
        // The same bytes as JSON.stringify of a KvSnapshot, built a slice at a time.
        const parts: Uint8Array[] = [enc.encode(`{"applied":${String(applied)},"data":[`)];
        await appendJsonArray(parts, data, pause);
        parts.push(enc.encode('],"requests":['));
        await appendJsonArray(parts, requests, pause);
        parts.push(enc.encode(']}'));
        return concatBytes(parts);
      },
    };
  }

  restore(index: LogIndex, bytes: Uint8Array): void {
    const snap = JSON.parse(dec.decode(bytes)) as KvSnapshot;
    if (snap.applied !== index) throw new Error(`kv snapshot is at ${snap.applied}, expected ${index}`);
    this.data = new Map(snap.data);
    this.requests = new Map(snap.requests);
    this.applied = snap.applied;
  }

  private advanceTo(index: LogIndex): void {
    if (index !== this.applied + 1) throw new Error(`kv: applying ${index} after ${this.applied}`);
    this.applied = index;
  }

  private execute(index: LogIndex, bytes: Uint8Array): KvResult {
    let cmd: unknown;
    try {
      cmd = JSON.parse(dec.decode(bytes));
    } catch {
      return { ok: false, error: 'InvalidCommand', detail: 'command is not JSON' };
    }
    const c = cmd as Partial<KvCommand> | null;
    if (c === null || typeof c !== 'object' || typeof c.key !== 'string') return { ok: false, error: 'InvalidCommand', detail: 'command needs a key' };
    const previous = this.data.get(c.key)?.value ?? null;
    if (c.op === 'put' && typeof c.value === 'string') {
      this.data.set(c.key, { value: c.value, revision: index });
      return { ok: true, revision: index, previous };
    }
    if (c.op === 'delete') {
      this.data.delete(c.key);
      return { ok: true, revision: index, previous };
    }
    return { ok: false, error: 'InvalidCommand', detail: 'op must be put (with a string value) or delete' };
  }

  private remember(requestId: string, result: KvResult): void {
    this.requests.set(requestId, result);
    if (this.requests.size > this.rememberRequests) {
      const oldest = this.requests.keys().next().value;
      if (oldest !== undefined) this.requests.delete(oldest);
    }
  }
}

export function encodeKvCommand(cmd: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify(cmd));
}

/** Elements serialized per slice: a few milliseconds of work. */
const SLICE = 2_000;

async function appendJsonArray(parts: Uint8Array[], items: readonly unknown[], pause: () => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += SLICE) {
    if (i > 0) await pause();
    const slice = JSON.stringify(items.slice(i, i + SLICE));
    // Strip the slice's brackets; slices after the first are joined with a comma.
    parts.push(enc.encode((i > 0 ? ',' : '') + slice.slice(1, -1)));
  }
}
