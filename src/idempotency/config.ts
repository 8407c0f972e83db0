import { z } from 'zod';

export const idempotencySchema = z
  .object({
    /** How long a stored answer is replayed for the same Idempotency-Key. */
    ttl: z
      .string()
      .regex(/^\d+(ms|s|m|h|d|w)$/, 'must be a duration like 24h')
      .default('24h'),
    /** Answers larger than this are not stored: a retry of them is refused rather than billed twice. */
    max_response_bytes: z
      .number()
      .int()
      .positive()
      .max(64 * 1024 * 1024)
      .default(4 * 1024 * 1024),
  })
  .strict();

export type IdempotencyConfig = z.infer<typeof idempotencySchema>;
