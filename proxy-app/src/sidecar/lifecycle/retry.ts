import type { Clock } from './clock.js';

export interface RetryOptions {
  readonly clock: Clock;
  /** Attempts in all, the first included. */
  readonly attempts: number;
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
  /** Errors not worth another attempt (a missing resource, a malformed request). */
  readonly isFinal?: (error: unknown) => boolean;
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** Calls `fn` until it succeeds, doubling the delay between attempts up to `maxDelayMs`. */
export async function retry<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  let delay = options.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= options.attempts || options.isFinal?.(error)) throw error;
      options.onRetry?.(error, attempt, delay);
      await options.clock.sleep(delay);
      delay = Math.min(delay * 2, options.maxDelayMs);
    }
  }
}
