import { z } from 'zod';
import { idSchema } from '../config/ids.ts';

const positiveInt = z.number().int().positive();
const usdAmount = z.union([
  z.number().nonnegative(),
  z.string().regex(/^\d+(\.\d+)?$/, 'must be a decimal USD amount'),
]);
const durationPattern = /^\d+(ms|s|m|h|d|w)$/;

/** Caps on the calls that share one request_id (one user action) or session_id (one agent run). */
const loopCapSchema = z
  .object({
    max_calls: positiveInt.optional(),
    max_usd: usdAmount.optional(),
    window: z.string().regex(durationPattern, 'must be a duration like 15m, 1h').default('1h'),
  })
  .strict()
  .refine((c) => c.max_calls !== undefined || c.max_usd !== undefined, {
    message: 'needs max_calls or max_usd',
  });

export const guardrailSchema = z
  .object({
    id: idSchema,
    match: z
      .object({
        team: z.string().optional(),
        project: z.string().optional(),
        env: z.string().optional(),
        feature: z.string().optional(),
      })
      .strict()
      .default({}),
    max_prompt_tokens: positiveInt.optional(),
    max_prompt_bytes: positiveInt.optional(),
    /** Ceiling on output tokens: a request asking for more (or for nothing) is lowered to it. */
    max_output_tokens: positiveInt.optional(),
    per_request: loopCapSchema.optional(),
    per_session: loopCapSchema.optional(),
  })
  .strict();

export type RawGuardrail = z.infer<typeof guardrailSchema>;
