import { MemoryEventStorage } from '../../../../../node/core/eventstore/index.ts';
import { describeEventStoreStateMachine } from './state-machine-contract.ts';

describeEventStoreStateMachine('MemoryEventStorage', { make: () => new MemoryEventStorage() });
