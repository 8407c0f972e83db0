import type { Denial } from '../errors.ts';
import type { RetryConfig } from './config.ts';

export type FailureClass = '429' | '5xx' | 'timeout' | 'connection';

/** Which kind of upstream failure a denial records; null = not worth another attempt (4xx, bad body). */
export function failureClass(d: Denial): FailureClass | null {
  switch (d.code) {
    case 'upstream_rate_limited':
      return '429';
    case 'upstream_timeout':
      return 'timeout';
    case 'upstream_error':
      if (d.upstreamStatus === undefined) return 'connection';
      return d.upstreamStatus >= 500 ? '5xx' : null;
    default:
      return null;
  }
}

export function isRetryable(d: Denial, cfg: RetryConfig): boolean {
  const c = failureClass(d);
  return c !== null && cfg.on.includes(c);
}

/**
 * Exponential backoff with jitter (half fixed, half random), capped. A provider's Retry-After
 * is honoured when it fits under the cap; past the cap the call is not worth holding open.
 */
export function backoffMs(
  retryNumber: number,
  cfg: RetryConfig,
  retryAfter: string | undefined,
  random: () => number = Math.random,
): number | null {
  if (retryAfter !== undefined) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) {
      const ms = Math.ceil(seconds * 1000);
      return ms <= cfg.max_backoff_ms ? ms : null;
    }
  }
  const base = Math.min(cfg.max_backoff_ms, cfg.initial_backoff_ms * 2 ** Math.max(0, retryNumber - 1));
  return Math.round(base / 2 + (random() * base) / 2);
}
