import CircuitBreaker from 'opossum';
import { ModelError } from './model-client';
import { DeferredError } from '../run-errors';

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface ModelBreakers {
  /** Runs `call` through the breaker of `endpoint`; an open breaker throws DeferredError. */
  fire<T>(endpoint: string, call: () => Promise<T>): Promise<T>;
  states(): Record<string, BreakerState>;
}

/**
 * One opossum circuit breaker per model endpoint. After `failures` failed calls (429,
 * 5xx, timeouts: what a retry could fix) within a minute and at least half of the
 * calls failing, the breaker opens: runs stop calling the endpoint and go back to the
 * queue for `resetMs` instead of hammering it. Then one probe call goes through
 * (half-open); its success closes the breaker. Permanent errors (a 400 for a bad request)
 * say nothing about the endpoint's health and do not count.
 */
export function createModelBreakers(opts: {
  failures: number;
  resetMs: number;
  onStateChange?: (endpoint: string, state: BreakerState) => void;
}): ModelBreakers {
  const breakers = new Map<string, CircuitBreaker<[() => Promise<unknown>], unknown>>();
  const get = (endpoint: string) => {
    let b = breakers.get(endpoint);
    if (!b) {
      b = new CircuitBreaker((call: () => Promise<unknown>) => call(), {
        timeout: false, // the model client enforces its own timeout and aborts the request
        resetTimeout: opts.resetMs,
        volumeThreshold: opts.failures,
        errorThresholdPercentage: 50,
        rollingCountTimeout: 60_000,
        rollingCountBuckets: 12,
        errorFilter: (err: unknown) => err instanceof ModelError && !err.retryable,
      });
      const notify = (state: BreakerState) => () => opts.onStateChange?.(endpoint, state);
      b.on('open', notify('open'));
      b.on('halfOpen', notify('half_open'));
      b.on('close', notify('closed'));
      breakers.set(endpoint, b);
    }
    return b;
  };
  const stateOf = (b: CircuitBreaker<[() => Promise<unknown>], unknown>): BreakerState =>
    b.opened ? 'open' : b.halfOpen ? 'half_open' : 'closed';
  return {
    async fire<T>(endpoint: string, call: () => Promise<T>): Promise<T> {
      try {
        return (await get(endpoint).fire(call)) as T;
      } catch (err) {
        if ((err as { code?: string }).code === 'EOPENBREAKER') {
          throw new DeferredError(`the model endpoint's circuit breaker is open after repeated failures; retrying in ${Math.ceil(opts.resetMs / 1000)} s`, opts.resetMs);
        }
        throw err;
      }
    },
    states() {
      return Object.fromEntries([...breakers].map(([e, b]) => [e, stateOf(b)]));
    },
  };
}
