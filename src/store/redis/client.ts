import { Redis, type RedisOptions } from 'ioredis';

/**
 * Client options for the shared counters. The point is to fail fast rather than wait: a budget
 * decision that cannot be made now is a clear 503 now (hard budgets fail closed), not a request
 * hanging in a queue until Redis returns and then running against state it no longer matches.
 */
export const COUNTERS_CLIENT_OPTIONS: RedisOptions = {
  // Commands issued while disconnected are refused at once instead of queued.
  enableOfflineQueue: false,
  // Commands in flight when the connection drops are rejected, not resent: a resent reserve
  // could run twice, a resent settle is already idempotent but would arrive late.
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  // A hung Redis (not a dead one) must not hold requests either.
  commandTimeout: 2_000,
  connectTimeout: 2_000,
  // Reconnect forever, quickly: recovery needs no restart of the gateway.
  retryStrategy: (attempt: number) => Math.min(50 * attempt, 1_000),
};

/** A client for the counters; it connects (and reconnects) on its own. */
export function createCountersClient(url: string, overrides: RedisOptions = {}): Redis {
  return new Redis(url, { ...COUNTERS_CLIENT_OPTIONS, ...overrides });
}

/**
 * Resolves once the client is ready, rejects after `timeoutMs`. With the offline queue off,
 * commands sent before this fail as unavailable; startup (and tests) wait here first.
 */
export async function waitUntilReady(client: Redis, timeoutMs = 5_000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error(`Redis not ready after ${timeoutMs} ms (status ${client.status})`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}
