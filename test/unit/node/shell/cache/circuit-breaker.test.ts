import { describe, expect, it } from '@jest/globals';
import { CircuitBreaker } from '../../../../../node/shell/cache/index.ts';
import type { CircuitState } from '../../../../../node/shell/cache/index.ts';

function breaker(): { b: CircuitBreaker; clock: { t: number }; states: CircuitState[] } {
  const clock = { t: 0 };
  const states: CircuitState[] = [];
  const b = new CircuitBreaker({ failureThreshold: 3, openMs: 1_000, now: () => clock.t, onStateChange: (s) => states.push(s) });
  return { b, clock, states };
}

describe('CircuitBreaker', () => {
  it('opens after the threshold of consecutive failures and refuses calls while open', () => {
    const { b, states } = breaker();
    b.failure();
    b.success(); // resets the count
    b.failure();
    b.failure();
    expect(b.state).toBe('closed');
    b.failure();
    expect(b.state).toBe('open');
    expect(b.allow()).toBe(false);
    expect(states).toEqual(['open']);
  });

  it('lets exactly one probe through when half-open, and closes on its success', () => {
    const { b, clock, states } = breaker();
    for (let i = 0; i < 3; i++) b.failure();
    clock.t = 999;
    expect(b.allow()).toBe(false);
    clock.t = 1_000;
    expect(b.state).toBe('half-open');
    expect(b.allow()).toBe(true);
    expect(b.allow()).toBe(false);
    b.success();
    expect(b.state).toBe('closed');
    expect(b.allow()).toBe(true);
    expect(states).toEqual(['open', 'half-open', 'closed']);
  });

  it('opens again for a full period when the probe fails', () => {
    const { b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.failure();
    clock.t = 1_500;
    expect(b.allow()).toBe(true);
    b.failure();
    expect(b.state).toBe('open');
    clock.t = 2_499;
    expect(b.allow()).toBe(false);
    clock.t = 2_500;
    expect(b.allow()).toBe(true);
  });
});
