import { statfsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { emptyMeta } from '../../../../../node/core/eventstore/index.ts';
import { LmdbEventStorage } from '../../../../../node/shell/eventstore/lmdb-event-storage.ts';
import { StoreMetrics } from '../../../../../node/shell/metrics/store-metrics.ts';
import { TempDirs } from '../../../../support/temp-dir.ts';
import { eventsFor } from '../../../../support/stored-events.ts';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

/** The value of an unlabelled metric in Prometheus text. */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`${name} not exported`);
  return Number(line.slice(name.length + 1));
}

describe('StoreMetrics', () => {
  it("reports the event store's size on disk and the data volume's room, read at each scrape", async () => {
    const dataDir = await dirs.make();
    const storage = LmdbEventStorage.open(path.join(dataDir, 'events'));
    try {
      const registry = new Registry();
      new StoreMetrics(registry, { refusedAppends: () => 0, eventStoreBytes: () => storage.sizeBytes(), dataDir });
      const before = sample(await registry.metrics(), 'eventraft_event_store_bytes');
      const written = eventsFor(emptyMeta, 's', 0, 2_000, 1);
      storage.write(written.events, written.meta);
      await storage.makeDurable();
      const text = await registry.metrics();
      // 2,000 events of ~200 bytes of JSON, with their indexes.
      expect(sample(text, 'eventraft_event_store_bytes')).toBeGreaterThan(before + 200_000);
      const fs = statfsSync(dataDir);
      expect(sample(text, 'eventraft_volume_capacity_bytes')).toBe(fs.blocks * fs.bsize);
      const available = sample(text, 'eventraft_volume_available_bytes');
      expect(available).toBeGreaterThan(0);
      expect(available).toBeLessThanOrEqual(fs.blocks * fs.bsize);
    } finally {
      await storage.close();
    }
  });

  it('reports an unreadable volume as NaN, not as a full one', async () => {
    const registry = new Registry();
    new StoreMetrics(registry, { refusedAppends: () => 0, eventStoreBytes: () => 0, dataDir: path.join(await dirs.make(), 'missing') });
    const text = await registry.metrics();
    expect(sample(text, 'eventraft_volume_available_bytes')).toBeNaN();
    expect(sample(text, 'eventraft_volume_capacity_bytes')).toBeNaN();
  });
});
