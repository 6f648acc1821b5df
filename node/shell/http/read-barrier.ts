import type { AppendOutcome } from '../../core/eventstore/index.ts';
import type { Driver } from '../driver.ts';
import { NotLeaderError } from '../errors.ts';
import type { Consistency } from './request.ts';

/** Waits until this node's state reflects what a read at consistency `c` promises. */
export type ReadBarrier = (c: Consistency) => Promise<void>;

export function readBarrierFor(driver: Driver<AppendOutcome>): ReadBarrier {
  return async (c) => {
    if (c === 'strong') await driver.readBarrier();
    else if (c === 'leader' && !driver.isLeader()) throw new NotLeaderError(driver.leaderId());
  };
}
