/**
 * Node.js flags every eventraft process is started with: by the container image's ENTRYPOINT
 * (Dockerfile), by `npm start` and by the test and benchmark harnesses, so that what is measured
 * is what runs. V8 reads them only from the command line (not NODE_OPTIONS, not
 * v8.setFlagsFromString after start-up).
 *
 * --single-threaded-gc: V8's parallel and concurrent GC helper threads compete with the event loop
 * for the few CPUs a node gets (the pods of a cluster, or three nodes on one machine). Measured on
 * two cores under 64 writing clients: the leader spent 39-61 µs of helper-thread CPU per write
 * with them and 25-37 without (what is left is JIT compilation), with no more time on the main
 * thread; each follower saved ~5 µs; writes/s rose 3-15% and p99 did not get worse.
 * docs/benchmarks.md has the runs.
 */
export const NODE_RUNTIME_FLAGS: readonly string[] = ['--single-threaded-gc'];
