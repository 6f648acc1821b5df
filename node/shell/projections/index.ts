export { ProjectionFailedError, ProjectionLaggingError, ProjectionRunner, UnknownProjectionError } from './projection-runner.ts';
export type { ProjectionListener, ProjectionRow, ProjectionRunnerOptions, ProjectionStatus } from './projection-runner.ts';
export { ProjectionStore } from './projection-store.ts';
export type { RowChange } from './projection-store.ts';
