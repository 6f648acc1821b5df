import { describe, expect, it } from '@jest/globals';
import { EventStoreStateMachine, MemoryEventStorage, decodeCommand, encodeCommand, proposedEvent } from '../../../../../node/core/eventstore/index.ts';
import type { AppendOutcome } from '../../../../../node/core/eventstore/index.ts';
import type { LogIndex } from '../../../../../node/core/raft/index.ts';
import { account } from '../../../../../node/domains/account.ts';
import { AggregateStates, CommandService, ConcurrencyConflictError, DomainRegistry } from '../../../../../node/shell/domains/index.ts';
import type { CommandServiceOptions } from '../../../../../node/shell/domains/index.ts';
import { toProblem } from '../../../../../node/shell/http/problem.ts';

/**
 * A one-node "cluster" for the command service: proposals apply to a real event store at the next
 * index, in proposal order. `hold()` stalls them until `release()`; `rival` writes to a stream
 * before each proposal applies, as a writer on another node would.
 */
class LocalDriver {
  readonly sm = new EventStoreStateMachine(new MemoryEventStorage());
  proposals = 0;
  barriers = 0;
  rival: ((stream: string) => void) | undefined;
  private held: (() => void)[] | undefined;

  propose(command: Uint8Array): Promise<AppendOutcome> {
    this.proposals++;
    const applyIt = (): AppendOutcome => {
      const decoded = decodeCommand(command);
      if (decoded.ok) for (const a of decoded.command.appends) this.rival?.(a.stream);
      return this.apply(command);
    };
    const held = this.held;
    if (held === undefined) return Promise.resolve(applyIt());
    return new Promise((resolve) => held.push(() => { resolve(applyIt()); }));
  }

  readBarrier(): Promise<void> {
    this.barriers++;
    return Promise.resolve();
  }

  apply(command: Uint8Array): AppendOutcome {
    const index = (this.sm.appliedIndex + 1) as LogIndex;
    return this.sm.apply(index, `r${index}`, command);
  }

  hold(): void {
    this.held = [];
  }

  /** Applies the held proposals in order; later ones are no longer held. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const run of held) run();
  }
}

function setUp(options: Partial<Pick<CommandServiceOptions, 'maxAttempts' | 'maxWaitingPerAggregate'>> = {}): { driver: LocalDriver; service: CommandService } {
  const driver = new LocalDriver();
  const registry = new DomainRegistry([account]);
  const states = new AggregateStates({ events: driver.sm, registry });
  const service = new CommandService({ driver, events: driver.sm, registry, states, now: () => 1, ...options });
  return { driver, service };
}

/** Lets every settled promise's callbacks run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('CommandService', () => {
  it('refuses commands beyond the waiting bound of one aggregate with a ConcurrencyConflict, and only for that aggregate', async () => {
    const { driver, service } = setUp({ maxWaitingPerAggregate: 3 });
    await service.execute('account', 'a', 'Open', { owner: 'ann' }, 'open-a');
    await service.execute('account', 'b', 'Open', { owner: 'bob' }, 'open-b');
    driver.hold();
    // One command holds the turn and three wait: the bound. The fifth is refused at once.
    const accepted = [1, 2, 3, 4].map((n) => service.execute('account', 'a', 'Deposit', { amount: n }, `a-${n}`));
    await expect(service.execute('account', 'a', 'Deposit', { amount: 5 }, 'a-5')).rejects.toThrow(ConcurrencyConflictError);
    // Another aggregate has a queue of its own.
    const other = service.execute('account', 'b', 'Deposit', { amount: 7 }, 'b-1');
    await settle();
    driver.release();
    const results = await Promise.all(accepted);
    // The waiting commands ran in arrival order, each on its predecessor's version: no conflicts.
    expect(results.map((r) => r.version)).toEqual([1, 2, 3, 4]);
    expect(results.map((r) => r.events.map((e) => e.data))).toEqual([[{ amount: 1 }], [{ amount: 2 }], [{ amount: 3 }], [{ amount: 4 }]]);
    expect((await other).version).toBe(1);
    expect(driver.proposals).toBe(2 + 4 + 1);
    // Nothing of the refused command was appended, and once the queue drained it is accepted.
    expect(driver.sm.reader.streamVersion('account-a')).toBe(4);
    await expect(service.execute('account', 'a', 'Deposit', { amount: 5 }, 'a-5')).resolves.toMatchObject({ version: 5, duplicate: false });
  });

  it('gives up with a ConcurrencyConflict after its attempts when another writer always gets there first', async () => {
    const { driver, service } = setUp({ maxAttempts: 4 });
    await service.execute('account', 'a', 'Open', { owner: 'ann' }, 'open-a');
    let rivalWrites = 0;
    driver.rival = (stream) => {
      const index = driver.sm.appliedIndex + 1;
      const rival = { type: 'Append' as const, timestamp: 1, appends: [{ stream, expectedVersion: 'any' as const, events: [proposedEvent({ id: `rival-${index}`, type: 'MoneyDeposited', data: { amount: 1 } })] }] };
      if (driver.apply(encodeCommand(rival)).ok) rivalWrites++;
    };
    await expect(service.execute('account', 'a', 'Deposit', { amount: 100 }, 'd-1')).rejects.toThrow(ConcurrencyConflictError);
    // Every attempt decided, proposed and lost; each retry first made its reads linearizable.
    expect(driver.proposals).toBe(1 + 4);
    expect(driver.barriers).toBe(3);
    expect(rivalWrites).toBe(4);
    // Only the rival's deposits are in the stream (each lost attempt took a log index too).
    const deposits = driver.sm.reader.readStream('account-a', 1, 100, 'forward').map((e) => e.event.id);
    expect(deposits).toEqual(['rival-2', 'rival-4', 'rival-6', 'rival-8']);
  });

  it('is answered over HTTP as 409 ConcurrencyConflict with a Retry-After', () => {
    expect(toProblem(new ConcurrencyConflictError('account-a changed under 10 attempts of Deposit; retry later'))).toEqual({
      status: 409,
      code: 'ConcurrencyConflict',
      title: 'Aggregate kept changing',
      detail: 'account-a changed under 10 attempts of Deposit; retry later',
      retryAfter: 1,
    });
  });
});
