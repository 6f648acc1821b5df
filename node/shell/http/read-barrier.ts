import type { Request } from 'express';
import type { AppendOutcome } from '../../core/eventstore/index.ts';
import type { Driver } from '../driver.ts';
import { NotLeaderError } from '../errors.ts';
import { consistency } from './request.ts';

/** Waits until this node's state reflects what the request's `consistency` promises. */
export type ReadBarrier = (req: Request) => Promise<void>;

export function readBarrierFor(driver: Driver<AppendOutcome>): ReadBarrier {
  return async (req) => {
    const c = consistency(req);
    if (c === 'strong') await driver.readBarrier();
    else if (c === 'leader' && !driver.isLeader()) throw new NotLeaderError(driver.leaderId());
  };
}
