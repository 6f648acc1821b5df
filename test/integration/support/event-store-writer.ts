/**
 * Child process for the event store's write-behind crash test: opens an LmdbEventStorage in
 * argv[2] with the flush delay and pending limit of argv[3] and argv[4], makes `argv[5]` writes of
 * one event each (applied index = write number), waits argv[6] ms and kills itself with SIGKILL, so
 * nothing after the last commit gets a chance to be flushed.
 */
import { LmdbEventStorage } from '../../../node/shell/eventstore/lmdb-event-storage.ts';
import { eventsFor } from '../../support/stored-events.ts';

const [dir, flushDelayMs, maxPendingEvents, writes, waitMs] = process.argv.slice(2);
const storage = LmdbEventStorage.open(dir ?? '', { flushDelayMs: Number(flushDelayMs), maxPendingEvents: Number(maxPendingEvents) });
let meta = storage.meta;
for (let i = 1; i <= Number(writes); i++) {
  const next = eventsFor(meta, `s${i % 3}`, storage.streamVersion(`s${i % 3}`) + 1, 1, i);
  storage.write(next.events, next.meta);
  meta = next.meta;
}
setTimeout(() => {
  process.kill(process.pid, 'SIGKILL');
}, Number(waitMs));
