export { ProjectionFailedError, ProjectionLaggingError, ProjectionRunner, UnknownProjectionError } from './projection-runner.ts';
export type { ProjectionRunnerOptions, ProjectionStatus } from './projection-runner.ts';
export { ProjectionStore } from './projection-store.ts';
