import { z } from 'zod';

const positiveInt = z.number().int().positive();

/** What to do when an upstream attempt fails before anything reached the client. */
export const retrySchema = z
  .object({
    /** Attempts per call, the first included; 1 disables retries. */
    max_attempts: z.number().int().min(1).max(10).default(2),
    initial_backoff_ms: z.number().int().min(0).max(60_000).default(100),
    max_backoff_ms: z.number().int().min(0).max(300_000).default(2_000),
    /** Failures worth another attempt. */
    on: z
      .array(z.enum(['429', '5xx', 'timeout', 'connection']))
      .default(['429', '5xx', 'timeout', 'connection']),
  })
  .strict();

/** The bounded wait of budgets whose `on_exhausted` is `queue`. */
export const queueSchema = z
  .object({
    max_depth: positiveInt.max(100_000).default(1_000),
    max_wait_ms: positiveInt.max(600_000).default(30_000),
  })
  .strict();

export const routingSchema = z
  .object({
    retries: retrySchema.prefault({}),
    queue: queueSchema.prefault({}),
  })
  .strict();

export type RetryConfig = z.infer<typeof retrySchema>;
export type QueueConfig = z.infer<typeof queueSchema>;
export type RoutingConfig = z.infer<typeof routingSchema>;
