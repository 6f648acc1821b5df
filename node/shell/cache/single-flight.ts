/**
 * At most one call of `run` per key in flight: callers that ask for a key while a call for it is
 * running share its promise. The key is free again as soon as the call settles.
 */
export class SingleFlight<T> {
  private readonly flights = new Map<string, Promise<T>>();

  /** The running call for `key`, if any. */
  running(key: string): Promise<T> | undefined {
    return this.flights.get(key);
  }

  do(key: string, run: () => Promise<T>): Promise<T> {
    const existing = this.flights.get(key);
    if (existing !== undefined) return existing;
    const p = run().finally(() => {
      this.flights.delete(key);
    });
    this.flights.set(key, p);
    return p;
  }
}
