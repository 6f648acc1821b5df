/** closed: calls go through; open: calls are refused at once; half-open: one probe call goes through. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** The gauge value of each state (cache_circuit_state). */
export const circuitStateValue: Readonly<Record<CircuitState, number>> = { closed: 0, 'half-open': 1, open: 2 };

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  readonly failureThreshold: number;
  /** How long the circuit stays open before one probe is let through. */
  readonly openMs: number;
  readonly now: () => number;
  readonly onStateChange?: (state: CircuitState) => void;
}

/**
 * A circuit breaker for a dependency that is only an optimisation (the cache): after
 * `failureThreshold` consecutive failures it opens and refuses calls for `openMs`, so a dead or
 * hung Redis costs requests nothing; then it lets one probe through (half-open) and closes on its
 * success or opens again on its failure.
 */
export class CircuitBreaker {
  private current: CircuitState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probeInFlight = false;
  private readonly o: CircuitBreakerOptions;

  constructor(o: CircuitBreakerOptions) {
    this.o = o;
  }

  get state(): CircuitState {
    if (this.current === 'open' && this.o.now() - this.openedAt >= this.o.openMs) this.become('half-open');
    return this.current;
  }

  /**
   * Whether a call may go now. In half-open state only one caller gets true until that call
   * reports back through success() or failure().
   */
  allow(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.probeInFlight) return false;
    this.probeInFlight = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.probeInFlight = false;
    if (this.current !== 'closed') this.become('closed');
  }

  failure(): void {
    this.probeInFlight = false;
    this.failures++;
    if (this.current === 'half-open' || (this.current === 'closed' && this.failures >= this.o.failureThreshold)) {
      this.openedAt = this.o.now();
      this.become('open');
    }
  }

  private become(state: CircuitState): void {
    this.current = state;
    this.o.onStateChange?.(state);
  }
}
