import { classify, type ErrorInfo } from './errors.ts';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({ attempts: 8, baseDelayMs: 100, maxDelayMs: 20_000 });

/**
 * Runs `op`, retrying transient failures (throttling, 5xx, resets, timeouts) with exponential
 * backoff and full jitter. Permanent failures (403, 404, invalid requests) are thrown at once.
 * `onRetry` sees every retried failure: the caller counts it and slows its pool on throttles.
 */
export async function withRetry<T>(
  op: () => Promise<T>,
  onRetry: (info: ErrorInfo) => void,
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      const info = classify(err);
      if (!info.transient || attempt >= policy.attempts) throw err;
      onRetry(info);
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      await new Promise((r) => setTimeout(r, Math.random() * ceiling));
    }
  }
}
