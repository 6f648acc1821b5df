import { afterEach, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { parseEventStream } from '../../../../../node/client/sse.ts';
import { EventStoreStateMachine, MemoryEventStorage, encodeCommand, proposedEvent } from '../../../../../node/core/eventstore/index.ts';
import type { StoredEvent } from '../../../../../node/core/eventstore/index.ts';
import type { LogIndex } from '../../../../../node/core/raft/index.ts';
import { DomainRegistry } from '../../../../../node/shell/domains/index.ts';
import { registerSubscriptionRoutes } from '../../../../../node/shell/http/subscription-routes.ts';

let server: Server | undefined;
afterEach(async () => {
  const open = server;
  server = undefined;
  if (open !== undefined) {
    await new Promise((r) => {
      open.close(r);
    });
  }
});

describe('SSE subscriptions', () => {
  it('catch up in batches of about batchBytes of event JSON, every event once and in order', async () => {
    const storage = new MemoryEventStorage();
    const sm = new EventStoreStateMachine(storage);
    const text = 'x'.repeat(10_000);
    for (let i = 1; i <= 30; i++) {
      const cmd = { type: 'Append' as const, timestamp: 1, appends: [{ stream: `s${String(i % 4)}`, expectedVersion: 'any' as const, events: [proposedEvent({ id: `e${String(i)}`, type: 'Big', data: { text } })] }] };
      expect(sm.apply(i as LogIndex, `r${String(i)}`, encodeCommand(cmd)).ok).toBe(true);
    }
    // What each read of the log returned: a batch is what one round writes to the client.
    const batches: number[] = [];
    const readAll = storage.readAll.bind(storage);
    storage.readAll = (position: number, limit: number, maxBytes?: number): StoredEvent[] => {
      const found = readAll(position, limit, maxBytes);
      batches.push(found.length);
      return found;
    };
    const app = express();
    registerSubscriptionRoutes(app, { events: sm, domains: new DomainRegistry([]), onApplied: () => undefined, batchBytes: 25_000 });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server?.once('listening', r));
    const { port } = server.address() as AddressInfo;
    const abort = new AbortController();
    const res = await fetch(`http://127.0.0.1:${String(port)}/v1/subscriptions/events?fromPosition=0`, { signal: abort.signal });
    const positions: number[] = [];
    for await (const m of parseEventStream(res.body as ReadableStream<Uint8Array>, abort.signal)) {
      if (m.data !== undefined) positions.push((JSON.parse(m.data) as { position: number }).position);
      if (positions.length === 30) break;
    }
    abort.abort();
    expect(positions).toEqual(Array.from({ length: 30 }, (_, i) => i));
    // ~10 KB per event against 25,000 bytes: three per batch (the third reaches it), not all 30.
    expect(batches.slice(0, 10)).toEqual([3, 3, 3, 3, 3, 3, 3, 3, 3, 3]);
  });
});
